"""Reading CSV bytes into text cells: encoding, delimiter, quoting, and what went wrong.

- Text is UTF-8 (with or without BOM) or UTF-16 with BOM; anything else is read in the code page
  its words make sense in (``trainer.tables.charsets``: Windows-1251 Cyrillic, Windows-1252, ...).
- The delimiter is the one of comma, semicolon and tab that gives a consistent table whose
  header is as wide as its rows, with the most numbers in it (read in any form, with either
  decimal mark: a ``;`` file of ``1.200,50`` is a table of numbers).
- A table over ``Limits.max_cells`` (rows times columns) is refused before pandas reads it.

``trainer.tables.dataset`` turns the cells into a named table; this module only knows about text.
It must stay free of Keras: the bot imports it for a quick check of uploads.
"""

from __future__ import annotations

import csv
import io
import re

import numpy as np
import pandas as pd

from trainer.errors import DatasetError
from trainer.limits import Limits
from trainer.tables.charsets import decode_legacy
from trainer.tables.numeric import is_number, looks_like_data

DELIMITERS = (",", ";", "\t")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
_LEADING_BLANK_LINES = re.compile(r"(?:[ \t]*(?:\r\n|\r|\n))*")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SIGNATURES = (
    (b"\xd0\xcf\x11\xe0", "an old Excel file (.xls)"),
    (b"%PDF", "a PDF file"),
    (b"\x89PNG", "an image"),
    (b"\xff\xd8\xff", "an image"),
    (b"GIF8", "an image"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"BZh", "a compressed file"),
    (b"\xfd7zXZ\x00", "a compressed file"),
)
ONE_COLUMN = (
    "The file has only one column; I need at least two: the inputs and the value to predict."
)
_SNIFF_CHARS = 65_536
_SNIFF_LINES = 200


def read_csv_cells(
    data: bytes, *, limits: Limits, min_columns: int
) -> tuple[pd.DataFrame, np.ndarray, str]:
    """The non-blank rows of a CSV as text cells, their line numbers, and the delimiter."""
    # Counting newline bytes is cheap and refuses huge tables before any parsing.
    if data.count(b"\n") > limits.max_rows + 1:
        raise DatasetError(f"The table has more rows than the limit of {limits.max_rows:,}.")
    text = _decode(data)
    delimiter, width = _sniff(text, min_columns=min_columns)
    if width > limits.max_columns:
        raise DatasetError(f"The table has {width} columns; the limit is {limits.max_columns}.")
    lines = text.count("\n") or text.count("\r")
    if lines * width > limits.max_cells:
        raise DatasetError(
            f"The table has {lines:,} rows of {width} columns, over the {limits.max_cells:,} "
            "cells I read at once; please send fewer rows or columns."
        )
    # Pandas takes the column count from the first line, so leading blank lines must go.
    leading = _LEADING_BLANK_LINES.match(text).group()
    skipped = leading.count("\n") + leading.count("\r") - leading.count("\r\n")
    raw = _read_cells(text[len(leading) :], delimiter)
    if raw.shape[1] > limits.max_columns:
        raise DatasetError(
            f"The table has {raw.shape[1]} columns; the limit is {limits.max_columns}."
        )
    # Short rows come back with NaN in the missing fields: empty cells, like the others.
    raw = raw.fillna("")
    filled = (raw != "").any(axis=1).to_numpy()
    return raw[filled], np.flatnonzero(filled) + 1 + skipped, delimiter


def _decode(data: bytes) -> str:
    for signature, kind in _SIGNATURES:
        if data.startswith(signature):
            raise DatasetError(
                f"This looks like {kind}, not a CSV; please save it as CSV or .xlsx first."
            )
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise DatasetError("This looks like a binary file, not a CSV table.") from None
    elif b"\x00" in data:
        raise DatasetError("This looks like a binary file, not a CSV table.")
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = decode_legacy(data)
    text = text.lstrip("\ufeff").rstrip("\x1a")
    start = text.lstrip()[:15].lower()
    if start.startswith(("<!doctype html", "<html", "<?xml")):
        raise DatasetError("This looks like a web page, not a CSV; please save the table as CSV.")
    if start.startswith(("{", "[{", "[ {", '["', "[[")):
        raise DatasetError("This looks like JSON, not a CSV table.")
    sample = text[:_SNIFF_CHARS]
    if len(_CONTROL.findall(sample)) > max(2, len(sample) // 100):
        raise DatasetError("This looks like a binary file, not a CSV table.")
    return text


def _sniff(text: str, *, min_columns: int) -> tuple[str, int]:
    """Choose the delimiter that gives a consistent table with the most numbers in it."""
    sample = text[:_SNIFF_CHARS]
    if len(text) > _SNIFF_CHARS and "\n" in sample:
        sample = sample[: sample.rindex("\n")]
    lines = [line for line in sample.splitlines() if line.strip()][:_SNIFF_LINES]
    best: tuple[tuple[bool, float, float, int], str, int] | None = None
    for delimiter in DELIMITERS:
        try:
            # One line at a time: an unclosed quote must not swallow the rest of the sample.
            rows = [next(csv.reader([line], delimiter=delimiter), []) for line in lines]
        except csv.Error:
            continue
        widths = [len(row) for row in rows]
        if not widths:
            continue
        width = max(set(widths), key=widths.count)
        consistency = widths.count(width) / len(widths)
        if width < 2 or consistency < 0.8:
            continue
        cells = [cell.strip() for row in rows[1:] or rows for cell in row]
        numeric = sum(is_number(cell) for cell in cells) / max(1, len(cells))
        # Pandas takes the width from the first line: a header narrower than the rows (a ";"
        # file split at the commas of "1.200,50") would refuse every row.
        score = (widths[0] == width, numeric, consistency, width)
        if best is None or score > best[0]:
            best = (score, delimiter, width)
    if best is not None:
        return best[1], best[2]
    if min_columns <= 1:
        return ",", 1
    if lines and all(looks_like_data(line) for line in lines[1:] or lines):
        raise DatasetError(ONE_COLUMN)
    raise DatasetError(
        "This doesn't look like a table: I need columns separated by commas, semicolons or tabs."
    )


def _read_cells(text: str, delimiter: str) -> pd.DataFrame:
    try:
        return pd.read_csv(
            io.StringIO(text),
            sep=delimiter,
            header=None,
            dtype=str,
            na_filter=False,
            keep_default_na=False,
            skip_blank_lines=False,
            skipinitialspace=True,
            engine="c",
        )
    except pd.errors.EmptyDataError:
        raise DatasetError("The file is empty.") from None
    except pd.errors.ParserError as error:
        raise DatasetError(_explain_parser_error(str(error), delimiter)) from None
    except (ValueError, csv.Error, OverflowError):
        raise DatasetError("I could not read this file as a CSV table.") from None


def _explain_parser_error(message: str, delimiter: str) -> str:
    fields = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if fields:
        expected, line, saw = fields.groups()
        return (
            f"Row {line} has {saw} values but the rows above it have {expected} "
            f"({_DELIMITER_NAMES[delimiter]}-separated)."
        )
    quote = re.search(r"EOF inside string starting at row (\d+)", message)
    if quote:
        return f"A quote opened in row {int(quote.group(1)) + 1} is never closed."
    return "I could not read this file as a CSV table."
