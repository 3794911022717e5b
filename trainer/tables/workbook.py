"""Reading an Excel workbook (.xlsx, .xlsm) as rows of text cells, within bounds.

The first sheet is read, or the one ``sheet=`` names (or numbers). Cells become the text a CSV
would hold: numbers as Python writes them, dates in ISO form (``2026-01-31``, with the time
when there is one), formulas as their last computed value. Row numbers are the sheet's own.

The reader is calamine (python-calamine, in Rust): its strings table and cells are compact Rust
values, not a Python object per string, so its memory follows the sheet rather than every
string the workbook ever held. Before it reads anything:
- the archive's listed sizes are added up and refused over ``Limits.max_unzipped_bytes`` (a zip
  bomb); Python's zipfile never inflates a member past its listed size, so the listing cannot
  lie its way past the cap;
- the chosen sheet's cell references are scanned, and a sheet whose cells span more than
  ``Limits.max_cells`` (one cell in A1 and one in XFD1048576 would make calamine ask for
  hundreds of gigabytes) or more columns than ``Limits.max_columns`` is refused in a sentence.
The rows and the text read are then capped like a CSV upload's.

This module must stay free of Keras: the bot checks uploads with it.
"""

from __future__ import annotations

import datetime as dt
import io
import posixpath
import re
import zipfile
from typing import Any

import numpy as np
import pandas as pd
from defusedxml import ElementTree

from trainer import words
from trainer.errors import DatasetError
from trainer.limits import Limits

ZIP_SIGNATURE = b"PK\x03\x04"
MAX_MEMBERS = 10_000
UNREADABLE = (
    "This looks like an Excel spreadsheet, but I can't open it (it may be damaged); "
    "please save it again as .xlsx or CSV."
)
_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_RELATION = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_PACKAGE = "{http://schemas.openxmlformats.org/package/2006/relationships}"
# Where a cell is (<c r="AB12" ...>): its row and its column, by two patterns that start with a
# literal (fast), and their slower twins for XML that puts a tab or line break before r=.
# Rows' own r="12" and other attributes' refs (ref="A1:B2") do not match.
_CELL_ROW = re.compile(rb' r="[A-Z]{1,3}+([0-9]{1,7}+)"')
_CELL_COLUMN = re.compile(rb' r="([A-Z]{1,3}+)[0-9]')
_ANY_ROW = re.compile(rb'\sr="[A-Z]{1,3}+([0-9]{1,7}+)"')
_ANY_COLUMN = re.compile(rb'\sr="([A-Z]{1,3}+)[0-9]')
_ODD_SPACE = re.compile(rb'[\t\r\n]r="')
_TAG = 64  # longer than any reference these match


def is_zip(data: bytes) -> bool:
    """Whether ``data`` is a zip archive (an .xlsx, but also .ods, .docx, ...)."""
    return data.startswith(ZIP_SIGNATURE)


def is_workbook(archive: zipfile.ZipFile) -> bool:
    return "xl/workbook.xml" in archive.namelist()


def read_sheet(
    data: bytes,
    *,
    sheet: str | None = None,
    limits: Limits = Limits(),  # noqa: B008
) -> tuple[pd.DataFrame, np.ndarray]:
    """The non-blank rows of one sheet as text cells, and their row numbers in the sheet."""
    archive = open_archive(data, limits)
    with archive:
        if not is_workbook(archive):
            raise DatasetError(not_a_workbook(archive))
        sheets = _sheets(archive)
        name = _choose_sheet(list(sheets), sheet)
        _check_extent(archive, sheets[name], limits)
    from python_calamine import CalamineWorkbook  # here: CSV users never load it

    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        worksheet = book.get_sheet_by_name(name)
    except Exception:  # calamine raises its own errors, and others, on damaged files
        raise DatasetError(UNREADABLE) from None
    return _read_rows(worksheet, limits)


def open_archive(data: bytes, limits: Limits) -> zipfile.ZipFile:
    """The zip archive, once its listing passes the bounds (members, unpacked bytes)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise DatasetError(UNREADABLE) from None
    if len(members) > MAX_MEMBERS:
        raise DatasetError(
            f"This archive holds {len(members):,} files; I open up to {MAX_MEMBERS:,}."
        )
    unpacked = sum(member.file_size for member in members)
    if unpacked > limits.max_unzipped_bytes:
        raise DatasetError(
            f"This {'workbook' if is_workbook(archive) else 'archive'} unpacks to "
            f"{words.size(unpacked)}, over the {words.size(limits.max_unzipped_bytes)} I open; "
            "please save the sheet as CSV."
        )
    return archive


def not_a_workbook(archive: zipfile.ZipFile) -> str:
    """What a zip that is no .xlsx is, when it is another program's document; else a sentence
    for any zip."""
    names = set(archive.namelist())
    if "mimetype" in names:
        try:
            kind = archive.read("mimetype")[:100]
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, RuntimeError):
            kind = b""
        if b"spreadsheet" in kind:
            return "This is an OpenDocument spreadsheet (.ods); please save it as .xlsx or CSV."
    if any(name.startswith("Index/") for name in names):
        return "This looks like a Numbers spreadsheet; please export it as .xlsx or CSV."
    if "word/document.xml" in names or any(name.startswith("ppt/") for name in names):
        return "This is a Word or PowerPoint file, not a table; please send a CSV or .xlsx."
    return "This is a zip archive, not a table; please send the CSV or .xlsx file itself."


def _sheets(archive: zipfile.ZipFile) -> dict[str, str]:
    """Each worksheet's name and the archive member holding its cells, in workbook order."""
    try:
        book = ElementTree.fromstring(_small(archive, "xl/workbook.xml"))
        links = ElementTree.fromstring(_small(archive, "xl/_rels/workbook.xml.rels"))
    except Exception:  # a missing or malformed part, or an XML bomb defusedxml refused
        raise DatasetError(UNREADABLE) from None
    targets = {
        link.get("Id"): link.get("Target", "") for link in links.iter(f"{_PACKAGE}Relationship")
    }
    sheets = {}
    for item in book.iter(f"{_MAIN}sheet"):
        target = targets.get(item.get(_RELATION), "")
        if "worksheets/" not in target:  # a chart sheet, a dialog: no cells
            continue
        path = target.lstrip("/") if target.startswith("/") else posixpath.join("xl", target)
        sheets[item.get("name", "")] = posixpath.normpath(path)
    if not sheets:
        raise DatasetError("This workbook has no sheets with cells.")
    return sheets


def _small(archive: zipfile.ZipFile, name: str, limit: int = 10_000_000) -> bytes:
    with archive.open(name) as member:
        return member.read(limit)


def _check_extent(archive: zipfile.ZipFile, member: str, limits: Limits) -> None:
    """Refuse a sheet whose cells span too many columns, or rows times columns.

    Every cell's reference is found by regular expressions (about 0.7 s for a million cells),
    and only the distinct rows and columns are kept. Empty cells count too: a sheet formatted
    far below its table is refused like one with a stray value there.
    """
    rows: set[bytes] = set()
    columns: set[bytes] = set()
    tail = b""
    try:
        with archive.open(member) as stream:
            while chunk := stream.read(1 << 22):
                # A tag cut at the chunk's end is read whole with the next chunk (a cell
                # seen twice changes no extent).
                text = tail + chunk
                tail = text[-_TAG:]
                odd = _ODD_SPACE.search(text) is not None
                rows.update((_ANY_ROW if odd else _CELL_ROW).findall(text))
                columns.update((_ANY_COLUMN if odd else _CELL_COLUMN).findall(text))
    except (KeyError, zipfile.BadZipFile, OSError, ValueError, RuntimeError, EOFError):
        raise DatasetError(UNREADABLE) from None
    if not rows or not columns:
        return
    numbers = [int(row) for row in rows]
    indexes = [_column_index(column) for column in columns]
    top, bottom = min(numbers), max(numbers)
    width = max(indexes) - min(indexes) + 1
    if width > limits.max_columns:
        raise DatasetError(
            f"The sheet has more than {limits.max_columns} columns; that is the limit."
        )
    if width * (bottom - top + 1) > limits.max_cells:
        raise DatasetError(
            f"The sheet's cells reach from row {top:,} to row {bottom:,}, over "
            f"{limits.max_cells:,} cells; please delete stray cells far below the table, or save "
            "it as CSV."
        )


def _column_index(letters: bytes) -> int:
    index = 0
    for letter in letters:
        index = index * 26 + letter - 64
    return index


def _choose_sheet(names: list[str], wanted: str | None) -> str:
    """The first sheet, or the one named (any case; spaces and underscores alike, since a
    caption option cannot hold a space), or the n-th for ``sheet=2``."""
    if wanted is None:
        return names[0]
    for name in names:
        if _sheet_key(name) == _sheet_key(wanted):
            return name
    if wanted.strip().isdigit() and 1 <= int(wanted) <= len(names):
        return names[int(wanted) - 1]
    titles = ", ".join(names[:10])
    raise DatasetError(f'There is no sheet named "{wanted[:40]}"; the sheets are: {titles}.')


def _sheet_key(title: str) -> str:
    return "".join(title.replace("_", " ").split()).casefold()


def _read_rows(worksheet: Any, limits: Limits) -> tuple[pd.DataFrame, np.ndarray]:
    # calamine's rows start at the sheet's first row, leading blank rows included.
    rows: list[list[str]] = []
    numbers: list[int] = []
    size = 0
    try:
        for number, values in enumerate(worksheet.iter_rows(), start=1):
            cells = [_text(value) for value in values]
            while cells and not cells[-1].strip():
                cells.pop()
            if not cells:
                continue
            if len(rows) > limits.max_rows:  # the header and max_rows rows of data are fine
                raise DatasetError(
                    f"The sheet has more rows than the limit of {limits.max_rows:,}."
                )
            size += sum(len(cell) + 1 for cell in cells)
            if size > limits.max_upload_bytes:
                raise DatasetError(
                    f"The sheet holds more than {words.size(limits.max_upload_bytes)} of cells, "
                    "the limit for one table."
                )
            rows.append(cells)
            numbers.append(number)
    except DatasetError:
        raise
    except Exception:
        raise DatasetError(UNREADABLE) from None
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
