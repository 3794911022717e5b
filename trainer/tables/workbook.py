"""Reading an Excel workbook (.xlsx, .xlsm) as rows of text cells, safely.

The first sheet is read, or the one ``sheet=`` names (or numbers). Cells become the text a CSV
would hold: numbers as Python writes them, dates in ISO form (``2026-01-31``, with the time
when there is one), formulas as their last computed value. Row numbers are the sheet's own.

An .xlsx is a zip archive, so a small upload can unpack to gigabytes (a zip bomb). Before
openpyxl reads anything, the archive's listed sizes are added up and refused over
``Limits.max_unzipped_bytes``; Python's zipfile never inflates a member past its listed size,
so the listing cannot lie its way past the cap. XML parsing goes through defusedxml (openpyxl
uses it when it is installed), which refuses entity expansion. The text read is capped like a
CSV upload (``max_upload_bytes``), and the rows and columns like a CSV's.

This module must stay free of Keras: the bot checks uploads with it.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from typing import Any

import numpy as np
import pandas as pd

from trainer import words
from trainer.errors import DatasetError
from trainer.limits import Limits

ZIP_SIGNATURE = b"PK\x03\x04"
MAX_MEMBERS = 10_000
_UNREADABLE = (
    "This looks like an Excel spreadsheet, but I can't open it (it may be damaged); "
    "please save it again as .xlsx or CSV."
)


def is_zip(data: bytes) -> bool:
    """Whether ``data`` is a zip archive (an .xlsx, but also .ods, .docx, ...)."""
    return data.startswith(ZIP_SIGNATURE)


def read_sheet(
    data: bytes,
    *,
    sheet: str | None = None,
    limits: Limits = Limits(),  # noqa: B008
) -> tuple[pd.DataFrame, np.ndarray]:
    """The non-blank rows of one sheet as text cells, and their row numbers in the sheet."""
    archive = _open_archive(data, limits)
    archive.close()
    import openpyxl  # here: the bot's quick check imports this module, CSV users never pay

    try:
        workbook = openpyxl.load_workbook(
            io.BytesIO(data), read_only=True, data_only=True, keep_links=False
        )
    except Exception:  # openpyxl raises anything from KeyError to XML errors on bad files
        raise DatasetError(_UNREADABLE) from None
    try:
        worksheet = _choose_sheet(workbook, sheet)
        return _read_rows(worksheet, limits)
    except DatasetError:
        raise
    except Exception:
        raise DatasetError(_UNREADABLE) from None
    finally:
        workbook.close()


def _open_archive(data: bytes, limits: Limits) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise DatasetError(_UNREADABLE) from None
    names = {member.filename for member in members}
    if "xl/workbook.xml" not in names:
        raise DatasetError(_not_a_workbook(archive, names))
    if len(members) > MAX_MEMBERS:
        raise DatasetError(
            f"This workbook holds {len(members):,} files; I open up to {MAX_MEMBERS:,}."
        )
    unpacked = sum(member.file_size for member in members)
    if unpacked > limits.max_unzipped_bytes:
        raise DatasetError(
            f"This workbook unpacks to {words.size(unpacked)}, over the "
            f"{words.size(limits.max_unzipped_bytes)} I open; please save the sheet as CSV."
        )
    return archive


def _not_a_workbook(archive: zipfile.ZipFile, names: set[str]) -> str:
    if "mimetype" in names:
        try:
            kind = archive.read("mimetype")[:100]
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError):
            kind = b""
        if b"spreadsheet" in kind:
            return "This is an OpenDocument spreadsheet (.ods); please save it as .xlsx or CSV."
    if any(name.startswith("Index/") for name in names):
        return "This looks like a Numbers spreadsheet; please export it as .xlsx or CSV."
    if "word/document.xml" in names or any(name.startswith("ppt/") for name in names):
        return "This is a Word or PowerPoint file, not a table; please send a CSV or .xlsx."
    return "This is a zip archive, not a table; please send the CSV or .xlsx file itself."


def _choose_sheet(workbook: Any, wanted: str | None) -> Any:
    """The first sheet, or the one named (any case; spaces and underscores alike, since a
    caption option cannot hold a space), or the n-th for ``sheet=2``."""
    sheets = list(workbook.worksheets)
    if not sheets:
        raise DatasetError("This workbook has no sheets with cells.")
    if wanted is None:
        return sheets[0]
    for sheet in sheets:
        if _sheet_key(sheet.title) == _sheet_key(wanted):
            return sheet
    if wanted.strip().isdigit() and 1 <= int(wanted) <= len(sheets):
        return sheets[int(wanted) - 1]
    titles = ", ".join(sheet.title for sheet in sheets[:10])
    raise DatasetError(f'There is no sheet named "{wanted[:40]}"; the sheets are: {titles}.')


def _sheet_key(title: str) -> str:
    return "".join(title.replace("_", " ").split()).casefold()


def _read_rows(worksheet: Any, limits: Limits) -> tuple[pd.DataFrame, np.ndarray]:
    # The sheet's own dimension record may claim a million columns; read only what is there,
    # and one column past the limit to notice a table that is too wide.
    worksheet.reset_dimensions()
    width_cap = limits.max_columns + 1
    rows: list[list[str]] = []
    numbers: list[int] = []
    size = 0
    for number, values in enumerate(
        worksheet.iter_rows(max_col=width_cap, values_only=True), start=1
    ):
        cells = [_text(value) for value in values]
        while cells and not cells[-1].strip():
            cells.pop()
        if not cells:
            continue
        if len(cells) > limits.max_columns:
            raise DatasetError(
                f"The sheet has more than {limits.max_columns} columns; that is the limit."
            )
        if len(rows) > limits.max_rows:  # the header and max_rows rows of data are fine
            raise DatasetError(f"The sheet has more rows than the limit of {limits.max_rows:,}.")
        size += sum(len(cell) + 1 for cell in cells)
        if size > limits.max_upload_bytes:
            raise DatasetError(
                f"The sheet holds more than {words.size(limits.max_upload_bytes)} of cells, "
                "the limit for one table."
            )
        rows.append(cells)
        numbers.append(number)
    if not rows:
        raise DatasetError("The sheet is empty.")
    width = max(len(row) for row in rows)
    frame = pd.DataFrame([row + [""] * (width - len(row)) for row in rows], dtype=str)
    return frame, np.asarray(numbers, dtype=np.int64)


def _text(value: Any) -> str:
    """A cell's value as the text a CSV export would hold."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        # 5.0 as "5", the way a spreadsheet shows it; repr keeps every other float exact.
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)
