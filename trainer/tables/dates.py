"""Reading date cells: ISO dates (``2026-01-31``, with an optional time) and day, month and year
separated by ``.``, ``/`` or ``-``.

Whether ``03/04/2026`` is March or April is decided once per column: a first part over 12 makes
the column day first, a second part over 12 month first; where neither settles it, dots and
dashes are day first (Europe) and slashes month first (US). A column of ISO dates settles
nothing, so a later ``31.12.2024`` is read by its own parts. This module must stay free of Keras.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from trainer.tables.cells import MAX_VALUE, gaps

DAY_MONTH_YEAR = re.compile(
    r"^(?P<a>\d{1,2})(?P<sep>[./-])(?P<b>\d{1,2})(?P=sep)(?P<year>\d{4})"
    r"(?P<time>[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?$"
)
ISO_DATE = re.compile(
    r"\d{4}(?P<sep>[-/.])\d{1,2}(?P=sep)\d{1,2}"
    r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?(?:Z|[+-]\d{2}:?\d{2})?"
)


@dataclass(frozen=True)
class Dates:
    """A column read as dates: the parts a model takes, and which cells were missing or bad."""

    year: np.ndarray  # float64 year fraction (2026.0 is the first moment of 2026); NaN if none
    weekday: np.ndarray  # float64, Monday 0 to Sunday 6
    hour: np.ndarray  # float64 hour of the day with its fraction
    day: np.ndarray  # float64 day of the month
    missing: np.ndarray
    bad: np.ndarray
    day_first: bool | None  # None: no cell said (ISO dates only)

    @property
    def present(self) -> np.ndarray:
        return ~self.missing


def looks_like_date(cell: str) -> bool:
    """A single cell in one of the date forms read here."""
    cell = cell.strip()
    return len(cell) <= MAX_VALUE and bool(
        ISO_DATE.fullmatch(cell) or DAY_MONTH_YEAR.fullmatch(cell)
    )


def read_dates(cells: pd.Series, day_first: bool | None = None) -> Dates:
    """Every cell of a column as a date; ``day_first`` None decides it from the cells."""
    text = cells.astype(str).str.strip().reset_index(drop=True)
    missing = gaps(text)
    short = (text.str.len() <= MAX_VALUE).to_numpy()
    stamps = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    iso = text.str.fullmatch(ISO_DATE.pattern).to_numpy(dtype=bool, na_value=False)
    iso = iso & ~missing & short
    if iso.any():
        # Slashes and dots in "2026/01/31" are read like dashes.
        normal = text[iso].str.replace(r"^(\d{4})[/.](\d{1,2})[/.]", r"\1-\2-", regex=True)
        stamps[iso] = _to_datetime(normal)
    parts = text.where(short, "").str.extract(DAY_MONTH_YEAR.pattern)
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
    return Dates(year, weekday, hour, day, missing, bad, day_first)


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
