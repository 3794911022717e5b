"""Applying one column of a ColumnPlan to raw text cells: the features it gives, and what was
filled or unseen.

- Numbers are read with the decimal mark the cells settle, else the one the training table
  used (``Column.decimal``), else the file's; text that training read as gaps
  (``Column.gap_words``) is a gap here too, and gaps get the fill.
- Dates are read with the training table's day-and-month order, and the year feature counts
  years from the column's origin (``Column.origin``), so that it stays a small number that
  float32 holds to the second.
- Categories become one 0/1 feature per level, others and gaps as the plan says.

``trainer.tables.columns`` calls these; this module must stay free of Keras.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from trainer.tables.cells import MISSING
from trainer.tables.dates import Dates, read_dates, year_to_text
from trainer.tables.numeric import COMMA, POINT, Numbers, read_numbers

if TYPE_CHECKING:
    from trainer.tables.columns import Column


class CellError(ValueError):
    """A cell that the plan cannot read: which column, which row (0-based), what it said.

    ``kind`` is "number", "date", "finite" (an infinity) or "missing" (an empty cell where the
    model knows no fill); the message words it for someone typing ``/predict``.
    """

    _WORDING: dict[str, str] = {  # noqa: RUF012 - read only
        "number": '{column} must be a number, not "{cell}".',
        "date": '{column} must be a date like {like}, not "{cell}".',
        "finite": '{column} must be a finite number, not "{cell}".',
        "missing": "This model needs a value for {column}.",
    }

    def __init__(
        self, column: str, row: int, cell: str, kind: str, day_first: bool | None = None
    ) -> None:
        shown = cell if len(cell) <= 24 else cell[:23] + "…"
        # ISO dates are read whatever the order; a table that wrote days first is shown its own.
        like = "31.01.2026" if day_first else "2026-01-31"
        super().__init__(self._WORDING[kind].format(column=column, cell=shown, like=like))
        self.column, self.row, self.cell, self.kind = column, row, cell, kind


@dataclass(frozen=True)
class Encoded:
    """Raw cells turned into the network's inputs, with what was filled or unseen per row."""

    matrix: np.ndarray  # float64, one column per feature of the plan
    values: dict[str, np.ndarray] = field(default_factory=dict)  # number/date columns, filled
    filled: dict[str, np.ndarray] = field(default_factory=dict)  # empty cells given the fill
    unseen: dict[str, np.ndarray] = field(default_factory=dict)  # categories not in training
    cells: dict[str, pd.Series] = field(default_factory=dict)  # the text as given


def encode_number(
    column: Column, text: pd.Series, comma_file: bool, encoded: Encoded, read: Numbers | None
) -> np.ndarray:
    """A number column's features: the value (gaps filled) and its 0/1 gap marker."""
    if read is None:
        hint = column.decimal or (COMMA if comma_file else POINT)
        read = read_numbers(text, hint)
    missing, bad = _gap_words(column, text, read.missing, read.bad)
    _refuse(column, text, bad, column.role)
    value = read.values
    infinite = ~np.isfinite(value) & ~missing
    _refuse(column, text, infinite, "finite")
    if missing.any():
        if column.fill is None:
            _refuse(column, text, missing, "missing")
        value = np.where(missing, column.fill, value)
    encoded.values[column.name] = value
    encoded.filled[column.name] = missing
    features = [value]
    if column.indicator:
        features.append(missing.astype(np.float64))
    return np.column_stack(features)


def encode_date(
    column: Column, text: pd.Series, encoded: Encoded, read: Dates | None
) -> np.ndarray:
    """A date column's features: years since the origin, weekday and hour as the plan keeps
    them (gaps filled with the middle date), and the 0/1 gap marker."""
    dates = read if read is not None else read_dates(text, day_first=column.day_first)
    missing, bad = _gap_words(column, text, dates.missing, dates.bad)
    _refuse(column, text, bad, column.role)
    parts = {"year": dates.year, "weekday": dates.weekday, "hour": dates.hour}
    if missing.any():
        if column.fill is None:
            _refuse(column, text, missing, "missing")
        fill = read_dates(pd.Series([year_to_text(column.fill)]))  # type: ignore[arg-type]
        for part, values in (("year", fill.year), ("weekday", fill.weekday), ("hour", fill.hour)):
            parts[part] = np.where(missing, values[0], parts[part])
    encoded.values[column.name] = parts["year"]
    encoded.filled[column.name] = missing
    # Years counted from the origin in float64 here: float32 would lose the hour of a date
    # near 2024 written as a year fraction.
    parts["year"] = parts["year"] - column.origin
    features = [parts[part] for part in column.parts]
    if column.indicator:
        features.append(missing.astype(np.float64))
    return np.column_stack(features)


def encode_category(column: Column, text: pd.Series, encoded: Encoded) -> np.ndarray:
    """One 0/1 feature per level, then "(other)" and "(missing)" where the plan has them."""
    cells = text.str.strip()
    missing = cells.str.lower().isin(MISSING).to_numpy()
    index = {level: i for i, level in enumerate(column.levels)}
    # A value typed in another case still finds its level when that is unambiguous.
    folded: dict[str, int] = {}
    for level, i in index.items():
        folded[level.casefold()] = -1 if level.casefold() in folded else i
    lookup = {
        cell: index.get(cell, folded.get(cell.casefold(), -1))
        for cell in pd.unique(cells[~missing])
    }
    positions = cells.map(lookup).fillna(-1).to_numpy(dtype=np.int64, copy=True)
    positions[missing] = -1
    width = len(column.levels) + int(column.other) + int(column.missing_level)
    block = np.zeros((len(cells), width))
    known = positions >= 0
    block[np.flatnonzero(known), positions[known]] = 1.0
    unseen = ~known & ~missing
    if column.other:
        block[unseen, len(column.levels)] = 1.0
    if column.missing_level:
        block[missing, width - 1] = 1.0
    encoded.filled[column.name] = missing
    encoded.unseen[column.name] = unseen
    return block


def _gap_words(
    column: Column, text: pd.Series, missing: np.ndarray, bad: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Cells that are no number (or date) but a word training read as a gap count as gaps."""
    if not column.gap_words or not bad.any():
        return missing, bad
    words = set(column.gap_words)
    rows = np.flatnonzero(bad)
    known = np.fromiter(
        (str(cell).strip().casefold() in words for cell in text.iloc[rows]), bool, rows.size
    )
    missing, bad = missing.copy(), bad.copy()
    missing[rows[known]] = True
    bad[rows[known]] = False
    return missing, bad


def _refuse(column: Column, text: pd.Series, rows: np.ndarray, kind: str) -> None:
    if rows.any():
        row = int(np.flatnonzero(rows)[0])
        cell = str(text.iloc[row]).strip()
        raise CellError(column.name, row, cell, kind, column.day_first)
