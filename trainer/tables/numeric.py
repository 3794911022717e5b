"""Reading number cells as people write them, one way per column.

A number may carry a thousands separator (``1,234.5``; ``1.234,5`` or ``1 234,5`` where a comma
is the decimal mark), a currency sign or code before or after it (``$1,200``, ``1.200 €``,
``EUR 5``), a percent sign (``12%`` is read as 12: the sign is a unit, so a later ``12`` means
the same), or accounting brackets for a negative (``(1,200)``).

Each cell is read both ways: with a decimal point (``.``; ``,`` groups thousands) and with a
decimal comma (``,``; ``.`` groups thousands). Most cells have one reading only (``2.5``,
``1.234,5``, ``0,75``) or the same either way (``12``, ``1 200``); some differ (``1.200`` is 1.2
or 1200). A column takes the decimal mark its cells settle; where none settles it, the mark of
the table's other columns, else of its delimiter (a comma in ``;`` and tab files), and the
column note says that no cell settled it. Every cell of the column is then read with that mark;
a cell that only the other mark reads is read that way, and counted.

Reading is linear in the cell: the patterns are possessive, and a cell over ``MAX_VALUE``
characters is no number. This module must stay free of Keras.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from trainer.tables.cells import MAX_VALUE, MISSING, is_missing
from trainer.tables.dates import looks_like_date

POINT, COMMA = ".", ","
_SPACES = " \u00a0\u202f"
# Besides the other mark, spaces and apostrophes group thousands ("1 234,5", "1'234.50").
_GROUPING = {POINT: ",'’" + _SPACES, COMMA: ".'’" + _SPACES}
_CURRENCY = r"[$€£¥₹₽₩₺₴₦₱฿¢]|R\$|(?:USD|EUR|GBP|JPY|CHF|CAD|AUD|CNY|INR|RUB|BRL|SEK|NOK|DKK|PLN)"
_LENIENT = re.compile(
    rf"(?P<sign>[-+−])?+\s*+(?P<before>{_CURRENCY})?+\s*+(?P<sign2>[-+−])?+\s*+"
    rf"(?P<number>[\d.,'’{_SPACES}]*+)(?P<after>{_CURRENCY})?+\s*+(?P<percent>%)?+"
)
_PLAIN = {
    mark: re.compile(rf"\d++(?:{re.escape(mark)}\d*+)?+|{re.escape(mark)}\d++")
    for mark in (POINT, COMMA)
}
_GROUPED = {
    mark: re.compile(
        rf"[1-9]\d{{0,2}}+(?P<sep>[{re.escape(seps)}])\d{{3}}(?:(?P=sep)\d{{3}})*+"
        rf"(?:{re.escape(mark)}\d*+)?+"
    )
    for mark, seps in _GROUPING.items()
}
_PLAIN_NUMBER = re.compile(
    r"[+-]?+(?:\d++\.?+\d*+|\.\d++)(?:[eE][+-]?+\d++)?+|[+-]?+(?:inf|infinity|nan)", re.IGNORECASE
)
_COMMA_NUMBER = re.compile(r"[+-]?+(?:\d++,?+\d*+|,\d++)(?:[eE][+-]?+\d++)?+")


@dataclass(frozen=True)
class Numbers:
    """A column read as numbers: the values, and which cells were missing or not numbers."""

    values: np.ndarray  # float64; NaN where missing or not a number
    missing: np.ndarray  # bool: empty or a missing marker
    bad: np.ndarray  # bool: text that is no number
    example: str | None = None  # the first cell that needed the lenient reading, as written
    decimal: str = POINT  # the column's decimal mark
    unsettled: bool = False  # cells read two ways differ, and no cell chose the mark
    other_mark: int = 0  # cells read with the other mark, the only one that reads them

    @property
    def present(self) -> np.ndarray:
        return ~self.missing


@dataclass(frozen=True)
class Readings:
    """Every cell of a column read with each decimal mark (NaN: no reading that way)."""

    text: pd.Series  # the cells as given
    point: np.ndarray
    comma: np.ndarray
    missing: np.ndarray
    lenient: np.ndarray  # cells float() could not read: written with signs, groups or units

    def settled(self) -> str | None:
        """The mark the cells settle (the one more cells can only be read with), or None."""
        has_point, has_comma = ~np.isnan(self.point), ~np.isnan(self.comma)
        only_point = int((has_point & ~has_comma).sum())
        only_comma = int((has_comma & ~has_point).sum())
        if only_point == only_comma:
            return None
        return POINT if only_point > only_comma else COMMA

    def numbers(self, hint: str = POINT) -> Numbers:
        """The column read with the mark its cells settle, else with ``hint``."""
        settled = self.settled()
        mark = settled or hint
        chosen, other = (self.point, self.comma) if mark == POINT else (self.comma, self.point)
        values = chosen.copy()
        other_only = np.isnan(chosen) & ~np.isnan(other)
        values[other_only] = other[other_only]
        bad = np.isnan(values) & ~self.missing
        differ = ~np.isnan(chosen) & ~np.isnan(other) & (chosen != other)
        unsettled = settled is None and bool(differ.any())
        # Worth a word: cells written with signs, groups or units; cells only the other mark
        # reads; and cells read two ways, where the mark was a guess or a dot groups thousands.
        noted = other_only | (differ & (unsettled or mark == COMMA) & ~self.lenient)
        lenient = np.flatnonzero(self.lenient & ~other_only & ~bad)
        if lenient.size:
            plain = _plain(self.text.iloc[lenient].to_numpy(dtype=object), mark)
            noted[lenient[~plain]] = True
        example = None
        if noted.any():
            example = str(self.text.iloc[int(np.flatnonzero(noted)[0])]).strip()
        return Numbers(
            values=values,
            missing=self.missing,
            bad=bad,
            example=example,
            decimal=mark,
            unsettled=unsettled,
            other_mark=int(other_only.sum()),
        )


def read_numbers(cells: pd.Series, hint: str = POINT) -> Numbers:
    """Every cell of a column as a float, read one way (see the module's docstring)."""
    return read_both(cells).numbers(hint)


def read_both(cells: pd.Series) -> Readings:
    """Every cell of a column read with a decimal point and with a decimal comma."""
    text = cells.astype(str).reset_index(drop=True)
    raw = text.to_numpy(dtype=object)
    try:
        # Python's float() via numpy is several times faster than pd.to_numeric on clean data.
        point = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        point = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, copy=True)
    # float() also reads "1_000", but "nan" and its kin are gaps, not numbers.
    unread = np.isnan(point)
    comma = point.copy()
    _comma_of_plain(raw, point, comma, ~unread)
    missing = np.zeros(len(text), dtype=bool)
    if unread.any():
        rows = np.flatnonzero(unread)
        rest = text.iloc[rows].str.strip()
        gap = rest.str.lower().isin(MISSING).to_numpy()
        missing[rows[gap]] = True
        others = rows[~gap]
        if others.size:
            cells = rest[~gap].to_numpy(dtype=object)
            uniques, where = np.unique(cells, return_inverse=True)
            read = np.array([both_ways(cell) for cell in uniques], dtype=np.float64)
            point[others], comma[others] = read[where, 0], read[where, 1]
    return Readings(text, point, comma, missing, unread & ~missing)


def table_mark(columns: Iterable[pd.Series], fallback: str, rows: int = 1000) -> str:
    """The decimal mark of a table: the one most of its columns settle (by their first
    ``rows`` cells), else ``fallback`` (the delimiter's)."""
    votes = Counter(read_both(column.iloc[:rows]).settled() for column in columns)
    votes.pop(None, None)
    if not votes or votes[POINT] == votes[COMMA]:
        return fallback
    return POINT if votes[POINT] > votes[COMMA] else COMMA


def both_ways(cell: str) -> tuple[float, float]:
    """A cell read with a decimal point and with a decimal comma; NaN where it is no number."""
    readings = _lenient_parts(cell)
    if readings is None:
        return np.nan, np.nan
    negative, number = readings
    out = []
    for mark in (POINT, COMMA):
        digits = _digits(number, mark)
        value = np.nan if digits is None else float(digits)
        out.append(-value if negative else value)
    return out[0], out[1]


def lenient_number(cell: str, decimal_comma: bool) -> float | None:
    """``$1,200`` → 1200.0, ``12%`` → 12.0, ``(5)`` → -5.0; None when the cell is no number
    with that decimal mark."""
    value = both_ways(cell)[1 if decimal_comma else 0]
    return None if np.isnan(value) else value


def is_plain_number(cell: str, decimal_comma: bool = False) -> bool:
    """A number in the plain form a CSV writer uses (``-1.5e3``, or ``1,5`` with decimal commas)."""
    if len(cell) > MAX_VALUE:
        return False
    if _PLAIN_NUMBER.fullmatch(cell):
        return True
    return decimal_comma and _COMMA_NUMBER.fullmatch(cell) is not None


def is_number(cell: str) -> bool:
    """A number in any form read here, with either decimal mark."""
    cell = cell.strip()
    return is_plain_number(cell, decimal_comma=True) or not all(np.isnan(both_ways(cell)))


def looks_like_data(cell: str) -> bool:
    """A cell that data rows hold (a number in any accepted form, a date, a gap): not a name."""
    return is_missing(cell) or is_number(cell) or looks_like_date(cell)


def _lenient_parts(cell: str) -> tuple[bool, str] | None:
    """Whether the cell is negative, and its digits with their separators; None if no number."""
    text = cell.strip()
    if len(text) > MAX_VALUE:
        return None
    negative = False
    if len(text) > 2 and text[0] == "(" and text[-1] == ")":
        negative, text = True, text[1:-1].strip()
    match = _LENIENT.fullmatch(text)
    if match is None:
        return None
    signs = [s for s in (match["sign"], match["sign2"]) if s]
    if len(signs) > 1 or (negative and signs) or (match["before"] and match["after"]):
        return None
    return negative or (bool(signs) and signs[0] in "-−"), match["number"].strip(_SPACES)


def _digits(number: str, mark: str) -> str | None:
    """``1,234.5`` → ``1234.5`` with a decimal point: grouping removed, else None."""
    grouped = _GROUPED[mark].fullmatch(number)
    if grouped:
        number = number.replace(grouped["sep"], "")
    elif not _PLAIN[mark].fullmatch(number):
        return None
    return number.replace(mark, ".")


def _comma_of_plain(
    raw: np.ndarray, point: np.ndarray, comma: np.ndarray, read: np.ndarray
) -> None:
    """The decimal-comma reading of cells float() read: the same, unless a dot is in them (then
    none, or thousands for "1.200").

    Counted in numbers, since a column has a million of them: a whole number written as its
    digits ("-12") has no dot; any other whole number is checked for one; a fraction has one,
    unless written with an exponent only ("5e-1", which then counts as read with a point).
    "1.200" is a leading group of 1 to 3 digits, a dot and three digits: a value in [1, 1000)
    with three decimals and a length to match.
    """
    rows = np.flatnonzero(read & np.isfinite(point))
    if not rows.size:
        return
    values = np.abs(point[rows])
    lengths = np.fromiter(map(len, raw[rows]), np.int64, rows.size)
    negative = point[rows] < 0
    digits = np.floor(np.log10(np.maximum(values, 1.0))).astype(np.int64) + 1
    whole = values == np.round(values)
    dotted = ~whole
    unsure = whole & (lengths != digits + negative)
    if unsure.any():
        dotted[unsure] = np.fromiter(("." in cell for cell in raw[rows[unsure]]), bool)
    thousandths = values * 1000
    grouped = (
        dotted
        & (values >= 1)
        & (values < 1000)
        & (np.abs(thousandths - np.round(thousandths)) < 1e-6)
        & (lengths == digits + 4 + negative)
    )
    comma[rows[dotted]] = np.nan
    if grouped.any():
        # "1.000e2" has such a length too.
        candidates = rows[grouped]
        plain = np.fromiter(
            ("e" not in cell and "E" not in cell for cell in raw[candidates]), bool, candidates.size
        )
        comma[candidates[plain]] = np.round(point[candidates[plain]] * 1000)


def _plain(text: np.ndarray, mark: str) -> np.ndarray:
    """Which cells are plain numbers with this mark (no note needed for them)."""
    comma = mark == COMMA
    return np.fromiter((is_plain_number(cell.strip(), comma) for cell in text), bool, len(text))
