"""Read an uploaded CSV into numeric arrays, or say in one sentence what is wrong with it.

Rules a user can rely on:
- the first row is a header when any of its cells is not a number; without a header the columns
  are named ``x`` and ``y`` (two columns), ``x`` (one column), or ``x1``, ``x2``, ... and ``y``;
- columns are separated by commas, semicolons or tabs (whichever makes a consistent table);
- in semicolon- or tab-separated files a comma is a decimal point (``1,5;2,25``);
- text is UTF-8 (with or without BOM) or UTF-16 with BOM, else read as Windows-1252/Latin-1;
- the inputs are ``x`` and the target ``y`` when such columns exist, else every column but the
  last is an input and the last is the target; ``x=`` and ``y=`` choose other columns;
- row numbers in messages are line numbers of the file, the header being row 1.

This module must stay free of Keras: the bot imports it for a quick check of uploads.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from trainer.limits import Limits


class DatasetError(ValueError):
    """A problem with an uploaded table, worded as one plain sentence for the sender."""


@dataclass
class Dataset:
    """Numeric inputs and target chosen from an uploaded table."""

    features: np.ndarray
    target: np.ndarray
    feature_names: list[str]
    target_name: str

    @property
    def n_rows(self) -> int:
        """Number of data rows."""
        return int(self.target.shape[0])

    def feature_ranges(self) -> list[tuple[float, float]]:
        """(min, max) of each input column."""
        return [(float(column.min()), float(column.max())) for column in self.features.T]


@dataclass
class Table:
    """Cells of an uploaded CSV as text, before any column is chosen."""

    cells: pd.DataFrame
    names: list[str]
    line_numbers: np.ndarray
    has_header: bool
    delimiter: str

    @property
    def decimal_comma(self) -> bool:
        """Whether a comma inside a cell is a decimal point."""
        return self.delimiter != ","

    @property
    def n_rows(self) -> int:
        """Number of data rows (header and blank lines excluded)."""
        return len(self.cells)


DELIMITERS = (",", ";", "\t")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
_MISSING = frozenset({"", "nan", "-nan", "+nan", "na", "n/a", "#n/a", "null", "none"})
_NUMBER = re.compile(
    r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|infinity|nan)", re.IGNORECASE
)
_COMMA_NUMBER = re.compile(r"[+-]?(\d+,?\d*|,\d+)([eE][+-]?\d+)?")
_LEADING_BLANK_LINES = re.compile(r"(?:[ \t]*(?:\r\n|\r|\n))*")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SIGNATURES = (
    (b"PK\x03\x04", "an Excel or zip file"),
    (b"\xd0\xcf\x11\xe0", "an Excel file"),
    (b"%PDF", "a PDF file"),
    (b"\x89PNG", "an image"),
    (b"\xff\xd8\xff", "an image"),
    (b"GIF8", "an image"),
    (b"\x1f\x8b", "a compressed file"),
)
_SNIFF_CHARS = 65_536
_SNIFF_LINES = 200


def parse_csv(
    data: bytes,
    *,
    x: Sequence[str] | None = None,
    y: str | None = None,
    limits: Limits = Limits(),  # noqa: B008 - frozen, so one shared default is safe
) -> Dataset:
    """Parse and validate an uploaded CSV into inputs ``x`` and target ``y``."""
    table = read_table(data, limits=limits)
    target_name, feature_names = choose_columns(table.names, x=x, y=y)
    if not _has_any_number(table):
        raise DatasetError("This doesn't look like a table of numbers.")
    columns = [numeric_column(table, name) for name in [*feature_names, target_name]]
    matrix = np.column_stack(columns)
    _check_finite(matrix, table.line_numbers)
    if len(matrix) < limits.min_rows:
        raise DatasetError(
            f"The table has only {_rows(len(matrix))} of data; I need at least {limits.min_rows}."
        )
    target = matrix[:, -1]
    if np.ptp(target) == 0:
        raise DatasetError(
            f'Every value in column "{target_name}" is {target[0]:g}, so there is nothing to learn.'
        )
    return Dataset(
        features=np.ascontiguousarray(matrix[:, :-1]),
        target=np.ascontiguousarray(target),
        feature_names=list(feature_names),
        target_name=target_name,
    )


def read_table(data: bytes, *, limits: Limits = Limits(), min_columns: int = 2) -> Table:  # noqa: B008
    """Split an uploaded CSV into named text columns, checking size, encoding and shape."""
    if not data.strip():
        raise DatasetError("The file is empty.")
    check_upload_size(len(data), limits)
    # Counting newline bytes is cheap and refuses huge tables before any parsing.
    if data.count(b"\n") > limits.max_rows + 1:
        raise DatasetError(f"The table has more rows than the limit of {limits.max_rows:,}.")
    text = _decode(data)
    delimiter, width = _sniff(text, min_columns=min_columns)
    if width > limits.max_columns:
        raise DatasetError(f"The table has {width} columns; the limit is {limits.max_columns}.")
    # Pandas takes the column count from the first line, so leading blank lines must go.
    leading = _LEADING_BLANK_LINES.match(text).group()
    skipped = leading.count("\n") + leading.count("\r") - leading.count("\r\n")
    raw = _read_cells(text[len(leading) :], delimiter)
    if raw.shape[1] > limits.max_columns:
        raise DatasetError(
            f"The table has {raw.shape[1]} columns; the limit is {limits.max_columns}."
        )
    filled = (raw != "").any(axis=1).to_numpy()
    raw = raw[filled]
    line_numbers = np.flatnonzero(filled) + 1 + skipped
    if raw.empty:
        raise DatasetError("The file is empty.")
    first = [str(cell).strip() for cell in raw.iloc[0]]
    has_header = any(not _is_number_or_missing(cell) for cell in first)
    if has_header:
        names = _header_names(first)
        raw, line_numbers = raw.iloc[1:], line_numbers[1:]
    else:
        names = _default_names(raw.shape[1])
    if len(raw) > limits.max_rows:
        raise DatasetError(f"The table has more rows than the limit of {limits.max_rows:,}.")
    if raw.empty:
        raise DatasetError("The file has a header but no rows of data.")
    raw = raw.reset_index(drop=True)
    raw.columns = names
    return Table(
        cells=raw,
        names=names,
        line_numbers=line_numbers,
        has_header=has_header,
        delimiter=delimiter,
    )


def check_upload_size(size: int, limits: Limits = Limits()) -> None:  # noqa: B008
    """Refuse an upload of ``size`` bytes over the limit, before reading or parsing it."""
    if size > limits.max_upload_bytes:
        raise DatasetError(
            f"The file is {_size(size)}, over the {_size(limits.max_upload_bytes)} limit."
        )


def choose_columns(
    names: Sequence[str], *, x: Sequence[str] | None = None, y: str | None = None
) -> tuple[str, list[str]]:
    """Pick the target and input columns: ``x``/``y`` if present, else last column is target."""
    default_y = _find_optional(names, "y") or names[-1]
    target = find_column(names, y) if y is not None else default_y
    if x:
        features = [find_column(names, name) for name in x]
        for name in features:
            if features.count(name) > 1:
                raise DatasetError(f'Column "{name}" is listed twice as an input.')
            if name == target:
                raise DatasetError(f'Column "{name}" can\'t be both an input and the target.')
    else:
        default_x = _find_optional(names, "x")
        if default_x is not None and default_x != target:
            features = [default_x]
        else:
            features = [name for name in names if name != target]
    if not features:
        raise DatasetError("I need at least one input column besides the target.")
    return target, features


def find_column(names: Sequence[str], wanted: str) -> str:
    """Return the column called ``wanted`` (exact, else case-insensitive), or explain."""
    found = _find_optional(names, wanted)
    if found is None:
        shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
        raise DatasetError(f'There is no column named "{wanted}"; the columns are: {shown}.')
    return found


def input_columns(table: Table, feature_names: Sequence[str]) -> list[str]:
    """The columns holding a model's inputs: by name with a header, else the first ones."""
    k = len(feature_names)
    if table.has_header:
        return [find_column(table.names, name) for name in feature_names]
    if len(table.names) < k:
        raise DatasetError(f"The file needs {k} columns of inputs ({', '.join(feature_names)}).")
    # Without a header the first k columns are the inputs, in training order.
    return table.names[:k]


def numeric_column(table: Table, name: str) -> np.ndarray:
    """Convert one column to float64 (NaN where empty), naming the first cell that is no number."""
    cells = table.cells[name].astype(str)
    if table.decimal_comma:
        cells = cells.str.replace(",", ".", regex=False)
    try:
        # Python's float() via numpy is several times faster than pd.to_numeric on clean data.
        values = np.asarray(cells.to_numpy(dtype=object), dtype=np.float64)
    except (TypeError, ValueError):
        values = pd.to_numeric(cells, errors="coerce").to_numpy(dtype=np.float64)
    unparsed = np.isnan(values)
    if unparsed.any():
        missing = cells[unparsed].str.strip().str.lower().isin(_MISSING).to_numpy()
        bad = np.flatnonzero(unparsed)[~missing]
        if bad.size:
            row = int(bad[0])
            cell = _shorten(str(table.cells[name].iloc[row]).strip())
            raise DatasetError(
                f'Column "{name}" has a value that is not a number in row '
                f'{table.line_numbers[row]}: "{cell}".'
            )
    return values


def _decode(data: bytes) -> str:
    for signature, kind in _SIGNATURES:
        if data.startswith(signature):
            raise DatasetError(f"This looks like {kind}, not a CSV; please save it as CSV first.")
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
            text = _decode_legacy(data)
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


def _decode_legacy(data: bytes) -> str:
    # Spreadsheets on Windows save Windows-1252; Latin-1 decodes every byte as a last resort.
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _sniff(text: str, *, min_columns: int) -> tuple[str, int]:
    """Choose the delimiter that gives a consistent table with the most numbers in it."""
    sample = text[:_SNIFF_CHARS]
    if len(text) > _SNIFF_CHARS and "\n" in sample:
        sample = sample[: sample.rindex("\n")]
    lines = [line for line in sample.splitlines() if line.strip()][:_SNIFF_LINES]
    best: tuple[tuple[float, float, int], str, int] | None = None
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
        numeric = sum(_is_number(cell, delimiter != ",") for cell in cells) / max(1, len(cells))
        score = (numeric, consistency, width)
        if best is None or score > best[0]:
            best = (score, delimiter, width)
    if best is not None:
        return best[1], best[2]
    if min_columns <= 1:
        return ",", 1
    if lines and all(_is_number_or_missing(line.strip()) for line in lines[1:] or lines):
        raise DatasetError(
            "The file has only one column; I need at least two: the inputs and the value "
            "to predict."
        )
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


def _header_names(cells: list[str]) -> list[str]:
    names = [cell or f"column{i}" for i, cell in enumerate(cells, start=1)]
    seen: dict[str, str] = {}
    for name in names:
        key = name.casefold()
        if key in seen:
            raise DatasetError(
                f'Two columns are named "{name}"; please give each column its own name.'
            )
        seen[key] = name
    return names


def _default_names(width: int) -> list[str]:
    if width == 1:
        return ["x"]
    if width == 2:
        return ["x", "y"]
    return [f"x{i}" for i in range(1, width)] + ["y"]


def _find_optional(names: Sequence[str], wanted: str) -> str | None:
    if wanted in names:
        return wanted
    folded = [name for name in names if name.casefold() == wanted.strip().casefold()]
    return folded[0] if len(folded) == 1 else None


def _has_any_number(table: Table) -> bool:
    head = table.cells.head(50)
    return any(
        _is_number(str(cell).strip(), table.decimal_comma) for cell in head.to_numpy().ravel()
    )


def _check_finite(matrix: np.ndarray, line_numbers: np.ndarray) -> None:
    bad = ~np.isfinite(matrix).all(axis=1)
    count = int(bad.sum())
    if count:
        first = int(line_numbers[np.flatnonzero(bad)[0]])
        rows = f"{_rows(count)} {'has' if count == 1 else 'have'}"
        raise DatasetError(
            f"{rows} a missing or infinite value (the first is row {first}); "
            "please fill them in or remove them."
        )


def _is_number(cell: str, decimal_comma: bool = False) -> bool:
    if _NUMBER.fullmatch(cell):
        return True
    return decimal_comma and _COMMA_NUMBER.fullmatch(cell) is not None


def _is_number_or_missing(cell: str) -> bool:
    return cell.lower() in _MISSING or _is_number(cell, decimal_comma=True)


def _rows(count: int) -> str:
    return "1 row" if count == 1 else f"{count:,} rows"


def _shorten(cell: str, limit: int = 24) -> str:
    return cell if len(cell) <= limit else cell[: limit - 1] + "…"


def _size(size: int) -> str:
    if size >= 1_000_000:
        return f"{size / 1_000_000:.1f} MB"
    return f"{max(1, round(size / 1000))} KB"
