"""Reading cells as people write them: numbers with "1,234.5", "$1,200" or "12%", dates, gaps.

Every function takes a column of text cells (a pandas Series of str) and answers for all of
them at once, so the same rules hold in training, in a CSV of inputs and in ``/predict``:
- empty cells and the usual markers (``NA``, ``n/a``, ``null``, ``#N/A``, ...) are missing;
- a number may carry a thousands separator (``1,234.5``; ``1.234,5`` or ``1 234,5`` where a
  comma is the decimal point), a currency sign or code before or after it (``$1,200``,
  ``1.200 €``, ``EUR 5``), a percent sign (``12%`` is read as 12: the sign is a unit, so a
  later ``12`` means the same), or accounting brackets for a negative (``(1,200)``);
- dates are ISO (``2026-01-31``, with an optional time) or day, month and year separated by
  ``.``, ``/`` or ``-``; whether ``03/04/2026`` is March or April is decided per column.

This module must stay free of Keras: the bot checks uploads and ``/predict`` values with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

# Spreadsheet error values count as missing too: the formula behind them had nothing to say.
MISSING = frozenset(
    {"", "nan", "-nan", "+nan", "na", "n/a", "#n/a", "null", "none"}
    | {"#div/0!", "#value!", "#ref!", "#num!", "#name?", "#null!"}
)
_PLAIN_NUMBER = re.compile(
    r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|infinity|nan)", re.IGNORECASE
)
_COMMA_NUMBER = re.compile(r"[+-]?(\d+,?\d*|,\d+)([eE][+-]?\d+)?")
_CURRENCY = r"[$€£¥₹₽₩₺₴₦₱฿¢]|R\$|(?:USD|EUR|GBP|JPY|CHF|CAD|AUD|CNY|INR|RUB|BRL|SEK|NOK|DKK|PLN)"
_LENIENT = re.compile(
    rf"(?P<sign>[-+−])?\s*(?P<before>{_CURRENCY})?\s*(?P<sign2>[-+−])?\s*"
    r"(?P<number>[\d.,'’\s\u00a0\u202f]*\d[\d.,'’\s\u00a0\u202f]*)"
    rf"\s*(?P<after>{_CURRENCY})?\s*(?P<percent>%)?"
)
_GROUPED = {
    # decimal point: 1,234,567.89 / 1 234 567.89 / 1'234'567.89
    False: re.compile(r"\d{1,3}(?:(?P<sep>[,'’\s\u00a0\u202f])\d{3})(?:(?P=sep)\d{3})*(?:\.\d+)?"),
    # decimal comma: 1.234.567,89 / 1 234 567,89
    True: re.compile(r"\d{1,3}(?:(?P<sep>[.'’\s\u00a0\u202f])\d{3})(?:(?P=sep)\d{3})*(?:,\d+)?"),
}

_DAY_MONTH_YEAR = re.compile(
    r"^(?P<a>\d{1,2})(?P<sep>[./-])(?P<b>\d{1,2})(?P=sep)(?P<year>\d{4})"
    r"(?P<time>[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"
)
_ISO_DATE = re.compile(
    r"\d{4}(?P<sep>[-/.])\d{1,2}(?P=sep)\d{1,2}"
    r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?"
)


@dataclass(frozen=True)
class Numbers:
    """A column read as numbers: the values, and which cells were missing or not numbers."""

    values: np.ndarray  # float64; NaN where missing or not a number
    missing: np.ndarray  # bool: empty or a missing marker
    bad: np.ndarray  # bool: text that is no number
    example: str | None = None  # the first cell that needed the lenient reading, as written

    @property
    def present(self) -> np.ndarray:
        return ~self.missing


@dataclass(frozen=True)
class Dates:
    """A column read as dates: the parts a model takes, and which cells were missing or bad."""

    year: np.ndarray  # float64 year fraction (2026.0 is the first moment of 2026); NaN if none
    weekday: np.ndarray  # float64, Monday 0 to Sunday 6
    hour: np.ndarray  # float64 hour of the day with its fraction
    day: np.ndarray  # float64 day of the month
    missing: np.ndarray
    bad: np.ndarray
    day_first: bool


def is_missing(cell: str) -> bool:
    """Whether one cell counts as a gap."""
    return cell.strip().lower() in MISSING


def is_plain_number(cell: str, decimal_comma: bool = False) -> bool:
    """A number in the plain form a CSV writer uses (``-1.5e3``, or ``1,5`` with decimal commas)."""
    if _PLAIN_NUMBER.fullmatch(cell):
        return True
    return decimal_comma and _COMMA_NUMBER.fullmatch(cell) is not None


def looks_like_data(cell: str) -> bool:
    """A cell that data rows hold (a number in any accepted form, a date, a gap): not a name."""
    cell = cell.strip()
    return (
        is_missing(cell)
        or is_plain_number(cell, decimal_comma=True)
        or lenient_number(cell, False) is not None
        or lenient_number(cell, True) is not None
        or _ISO_DATE.fullmatch(cell) is not None
        or _DAY_MONTH_YEAR.fullmatch(cell) is not None
    )


def lenient_number(cell: str, decimal_comma: bool) -> float | None:
    """``$1,200`` → 1200.0, ``12%`` → 12.0, ``(5)`` → -5.0; None when the cell is no number."""
    text = cell.strip()
    negative = False
    if len(text) > 2 and text[0] == "(" and text[-1] == ")":
        negative, text = True, text[1:-1].strip()
    match = _LENIENT.fullmatch(text)
    if match is None:
        return None
    signs = [s for s in (match["sign"], match["sign2"]) if s]
    if len(signs) > 1 or (negative and signs) or (match["before"] and match["after"]):
        return None
    digits = _plain_digits(match["number"].strip(), decimal_comma)
    if digits is None:
        return None
    try:
        value = float(digits)
    except ValueError:
        return None
    if (signs and signs[0] in "-−") or negative:
        value = -value
    return value


def _plain_digits(number: str, decimal_comma: bool) -> str | None:
    """``1,234.5`` → ``1234.5``: grouping removed (one separator, groups of three), else None."""
    decimal = "," if decimal_comma else "."
    if _GROUPED[decimal_comma].fullmatch(number):
        separator = _GROUPED[decimal_comma].fullmatch(number)["sep"]  # type: ignore[index]
        number = number.replace(separator, "")
    elif not re.fullmatch(
        rf"\d+(?:{re.escape(decimal)}\d*)?|{re.escape(decimal)}\d+", number
    ) and not (decimal_comma and re.fullmatch(r"\d+\.\d*|\.\d+", number)):
        # Outside grouping, the decimal-comma files also take a point ("1.5"), as plain cells do.
        return None
    return number.replace(",", ".")


def read_numbers(cells: pd.Series, decimal_comma: bool = False) -> Numbers:
    """Every cell of a column as a float, with what was missing and what was not a number."""
    text = cells.astype(str)
    plain = text.str.replace(",", ".", regex=False) if decimal_comma else text
    try:
        # Python's float() via numpy is several times faster than pd.to_numeric on clean data.
        values = np.asarray(plain.to_numpy(dtype=object), dtype=np.float64)
    except (TypeError, ValueError):
        values = pd.to_numeric(plain, errors="coerce").to_numpy(dtype=np.float64, copy=True)
    # float() also reads "1_000" and " 1e3 "; "nan" and its kin are gaps, not numbers.
    unparsed = np.isnan(values)
    missing = np.zeros(len(text), dtype=bool)
    bad = np.zeros(len(text), dtype=bool)
    example = None
    if unparsed.any():
        rest = text[unparsed].str.strip()
        gap = rest.str.lower().isin(MISSING).to_numpy()
        missing[np.flatnonzero(unparsed)[gap]] = True
        others = np.flatnonzero(unparsed)[~gap]
        if others.size:
            uniques = pd.unique(text.iloc[others])
            read = {cell: lenient_number(cell, decimal_comma) for cell in uniques}
            found = np.array([read[cell] for cell in text.iloc[others]], dtype=object)
            ok = np.array([value is not None for value in found], dtype=bool)
            values[others[ok]] = found[ok].astype(np.float64)
            bad[others[~ok]] = True
            if ok.any():
                example = str(text.iloc[others[ok][0]]).strip()
    return Numbers(values=values, missing=missing, bad=bad, example=example)


def read_dates(cells: pd.Series, day_first: bool | None = None) -> Dates:
    """Every cell of a column as a date; ``day_first`` None decides it from the cells."""
    text = cells.astype(str).str.strip()
    missing = text.str.lower().isin(MISSING).to_numpy()
    stamps = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    iso = text.str.fullmatch(_ISO_DATE.pattern).to_numpy() & ~missing
    if iso.any():
        # Slashes and dots in "2026/01/31" are read like dashes.
        normal = text[iso].str.replace(r"^(\d{4})[/.](\d{1,2})[/.]", r"\1-\2-", regex=True)
        stamps[iso] = _to_datetime(normal)
    parts = text.str.extract(_DAY_MONTH_YEAR.pattern)
    numeric = parts["a"].notna().to_numpy() & ~missing & ~iso
    if numeric.any():
        a = parts["a"][numeric].astype(int)
        b = parts["b"][numeric].astype(int)
        if day_first is None:
            day_first = _decide_day_first(a, b, parts["sep"][numeric])
        day, month = (a, b) if day_first else (b, a)
        iso_text = (
            parts["year"][numeric]
            + "-"
            + month.astype(str).str.zfill(2)
            + "-"
            + day.astype(str).str.zfill(2)
            + parts["time"][numeric].fillna("").str.replace("T", " ")
        )
        stamps[numeric] = _to_datetime(iso_text)
    bad = stamps.isna().to_numpy() & ~missing
    year, weekday, hour = date_parts(stamps)
    day = np.asarray(pd.DatetimeIndex(stamps).day, dtype=np.float64)
    return Dates(year, weekday, hour, day, missing, bad, bool(day_first))


def date_parts(stamps: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year fraction, weekday (Monday 0) and hour of the day of datetime64 values (NaN: NaT)."""
    values = pd.DatetimeIndex(stamps)
    days = np.where(values.is_leap_year, 366.0, 365.0)
    seconds = (values.hour * 3600 + values.minute * 60 + values.second).to_numpy(dtype=float)
    year = values.year + (values.day_of_year - 1 + seconds / 86400) / days
    hour = seconds / 3600
    return (
        np.asarray(year, dtype=np.float64),
        np.asarray(values.day_of_week, dtype=np.float64),
        np.asarray(hour, dtype=np.float64),
    )


def year_to_text(year: float) -> str:
    """2026.0 → "2026-01-01": a year fraction back as the date it stands for."""
    whole = int(np.floor(year))
    start = pd.Timestamp(year=whole, month=1, day=1)
    days = 366 if start.is_leap_year else 365
    moment = start + pd.Timedelta(days=(year - whole) * days)
    moment = moment.round("s")
    if moment.hour == moment.minute == moment.second == 0:
        return moment.strftime("%Y-%m-%d")
    return moment.strftime("%Y-%m-%d %H:%M")


def _decide_day_first(a: pd.Series, b: pd.Series, separators: pd.Series) -> bool:
    if (a > 12).any():
        return True
    if (b > 12).any():
        return False
    # Neither part passes 12: dots and dashes are day first (Europe), slashes month first (US).
    return not (separators == "/").all()


def _to_datetime(text: pd.Series) -> pd.Series:
    parsed = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=True)
    return parsed.dt.tz_localize(None).astype("datetime64[ns]")
