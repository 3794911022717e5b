"""What a model does with each column of a table: the ColumnPlan, and applying it to raw cells.

A plan is decided once, from the training table (``trainer.tables.roles``), and then travels
with the model as JSON (inside the stored ``scaling`` dict, under ``"columns"``). Applying it to
new raw cells (a CSV or sheet of inputs, or ``/predict age=50 region=north``) gives exactly the
numeric matrix the network was trained on:

- a number column gives one feature, with empty cells filled by the training median, and a
  0/1 feature ``<name>_missing`` after it when training had gaps; its cells are read with the
  decimal mark the training table used (``decimal``), and the words training read as gaps
  (``gap_words``, like "rotary" among cylinder counts) are gaps later too;
- a category column gives one 0/1 feature per level (``region=north``), plus
  ``region=(other)`` when training pooled its rarest levels (a value never seen in training
  counts as other too; without that column it is all zeros) and ``region=(missing)`` for
  empty cells;
- a date column gives ``<name>_year`` (years since ``origin``, the first of January of its
  earliest year; plans stored before origins count from year 0), ``<name>_weekday`` (Monday 0)
  where the weekday varies, and ``<name>_hour`` where the time of day varies, with gaps filled
  by the median date and marked like numbers; dates are read in the training table's
  day-and-month order (``day_first``);
- an ignored column (id, constant, empty, free text) gives nothing.

The mapping is plain data on purpose, so that it can become Keras preprocessing layers
(``StringLookup`` over ``levels`` with one out-of-vocabulary index when ``other``, a
``Normalization`` after the fill) or a few lines in a caption.

This module must stay free of Keras: the bot checks ``/predict`` values with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from trainer.tables.dates import Dates, year_to_text
from trainer.tables.encoding import CellError, Encoded, encode_category, encode_date, encode_number
from trainer.tables.numeric import Numbers

__all__ = ["CellError", "Column", "ColumnPlan", "Encoded", "shorten", "unique_name"]

NUMBER, CATEGORY, DATE, IGNORED = "number", "category", "date", "ignored"
OTHER_LEVEL, MISSING_LEVEL = "(other)", "(missing)"
# Column names and the features made from them stay this short (storage, plots, messages).
MAX_NAME = 64
# 2: decimal marks, gap words and date origins (plans of version 1 read as before).
PLAN_VERSION = 2


@dataclass(frozen=True)
class Column:
    """One column of the training table and what the model makes of it."""

    name: str
    role: str  # NUMBER, CATEGORY, DATE or IGNORED
    reason: str = ""  # why IGNORED: "id", "constant", "empty" or "text"
    fill: float | None = None  # what an empty cell becomes (dates: as a year fraction)
    indicator: bool = False  # a 0/1 feature marks empty cells (training had some)
    low: float | None = None  # training range of the value (dates: year fractions)
    high: float | None = None
    levels: tuple[str, ...] = ()  # categories with a feature each, most common first
    other: bool = False  # a feature for values outside `levels`
    missing_level: bool = False  # a feature for empty cells
    parts: tuple[str, ...] = ()  # date features: "year", "weekday", "hour"
    day_first: bool | None = False  # dates like 03/04/2026 are day first (None: not settled)
    origin: float = 0.0  # dates: the year fraction the year feature counts from
    decimal: str = ""  # numbers: "." or "," as the training table wrote them ("": not said)
    gap_words: tuple[str, ...] = ()  # numbers and dates: text read as a gap (casefolded)

    @property
    def used(self) -> bool:
        return self.role != IGNORED

    def fill_text(self) -> str | None:
        """The fill as people read it (a median number or date), for messages."""
        if self.fill is None:
            return None
        return self.value_text(self.fill)

    def value_text(self, value: float) -> str:
        """A number of this column as people read it (dates as dates; numbers with the decimal
        mark the table used)."""
        if self.role == DATE:
            text = year_to_text(value)
            # Days first, as the table wrote them: 31.12.2024 (read back the same way).
            return _day_first(text) if self.day_first else text
        return f"{value:g}".replace(".", ",") if self.decimal == "," else f"{value:g}"

    def feature_names(self) -> list[str]:
        """Names of the features this column gives, before making them unique in the plan."""
        if self.role == NUMBER:
            return [self.name] + ([f"{self.name}_missing"] if self.indicator else [])
        if self.role == DATE:
            names = [f"{self.name}_{part}" for part in self.parts]
            return names + ([f"{self.name}_missing"] if self.indicator else [])
        if self.role == CATEGORY:
            levels = list(self.levels)
            levels += [OTHER_LEVEL] if self.other else []
            levels += [MISSING_LEVEL] if self.missing_level else []
            return [f"{self.name}={_short(level, 40)}" for level in levels]
        return []


@dataclass(frozen=True)
class ColumnPlan:
    """Every candidate input column of a training table, in table order, and the target."""

    columns: tuple[Column, ...]
    target: str

    # -- names ---------------------------------------------------------------------------

    @property
    def inputs(self) -> list[Column]:
        return [column for column in self.columns if column.used]

    @property
    def input_names(self) -> list[str]:
        """The raw columns the model reads: what ``/predict name=value`` takes."""
        return [column.name for column in self.inputs]

    @property
    def feature_names(self) -> list[str]:
        """The numeric columns the network sees, in order; unique."""
        names: list[str] = []
        seen: set[str] = set()
        for column in self.inputs:
            for name in column.feature_names():
                names.append(unique_name(name, seen))
        return names

    @property
    def plain(self) -> bool:
        """Every input is a number with nothing to fill: raw values are the features."""
        return all(c.role == NUMBER and not c.indicator for c in self.inputs)

    @property
    def decimal_mark(self) -> str:
        """ "," when the training table wrote its numbers with decimal commas, else ".": answers
        show numbers the way the table did."""
        marks = {column.decimal for column in self.inputs if column.role == NUMBER}
        return "," if "," in marks and "." not in marks else "."

    def column(self, name: str) -> Column | None:
        """A column by name: exact, else case-insensitive, else None."""
        for column in self.columns:
            if column.name == name:
                return column
        folded = [c for c in self.columns if c.name.casefold() == name.strip().casefold()]
        if len(folded) == 1:
            return folded[0]
        # A name over MAX_NAME was shortened at parse time; the full one still finds it.
        short = [c for c in self.columns if c.name.casefold() == shorten(name.strip()).casefold()]
        return short[0] if len(short) == 1 else None

    # -- applying it ---------------------------------------------------------------------

    def encode(
        self,
        cells: Mapping[str, pd.Series],
        *,
        n_rows: int | None = None,
        decimal_comma: bool = False,
        parsed: Mapping[str, Numbers | Dates] | None = None,
    ) -> Encoded:
        """The feature matrix for rows of raw text cells, keyed by input name.

        An input missing from ``cells`` counts as empty in every row. Raises CellError for a
        cell that is no number (or date) where one is needed, or is infinite, and for an
        empty cell of a column that has no fill (models trained before plans existed).
        ``decimal_comma`` says the file's delimiter makes a comma the likely decimal mark, for
        number columns of plans that do not say theirs. ``parsed`` holds columns read already
        (by ``trainer.tables.roles``), so they are not read twice.
        """
        n_rows = _row_count(cells, n_rows)
        blocks: list[np.ndarray] = []
        encoded = Encoded(np.empty((n_rows, 0)))
        for column in self.inputs:
            raw = cells.get(column.name)
            text = pd.Series([""] * n_rows, dtype=object) if raw is None else raw.astype(str)
            text = text.reset_index(drop=True)
            encoded.cells[column.name] = text
            read = (parsed or {}).get(column.name)
            if column.role == CATEGORY:
                blocks.append(encode_category(column, text, encoded))
            elif column.role == DATE:
                dates = read if isinstance(read, Dates) else None
                blocks.append(encode_date(column, text, encoded, dates))
            else:
                numbers = read if isinstance(read, Numbers) else None
                blocks.append(encode_number(column, text, decimal_comma, encoded, numbers))
        matrix = np.column_stack(blocks) if blocks else np.empty((n_rows, 0))
        return Encoded(
            np.ascontiguousarray(matrix, dtype=np.float64),
            encoded.values,
            encoded.filled,
            encoded.unseen,
            encoded.cells,
        )

    def shown_inputs(self, encoded: Encoded, row: int) -> tuple[float | str, ...]:
        """The inputs of one row as used: numbers as floats, the rest as text."""
        shown: list[float | str] = []
        for column in self.inputs:
            if column.role == NUMBER:
                shown.append(float(encoded.values[column.name][row]))
            elif column.role == DATE:
                filled = encoded.filled[column.name][row]
                text = encoded.cells[column.name].iloc[row].strip()
                shown.append((column.fill_text() or "") if filled else text)
            else:
                text = encoded.cells[column.name].iloc[row].strip()
                shown.append(text if text else MISSING_LEVEL)
        return tuple(shown)

    def feature_groups(self) -> list[list[str]]:
        """Per input, the names of the features it becomes."""
        names, groups = iter(self.feature_names), []
        for column in self.inputs:
            groups.append([next(names) for _ in column.feature_names()])
        return groups

    # -- storing it ----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; ``from_dict`` reads it back."""
        return {
            "version": PLAN_VERSION,
            "target": self.target,
            "columns": [_column_dict(column) for column in self.columns],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnPlan:
        columns = []
        for item in data.get("columns") or []:
            known = {key: item[key] for key in Column.__dataclass_fields__ if key in item}
            for key in ("levels", "parts", "gap_words"):
                known[key] = tuple(known.get(key) or ())
            columns.append(Column(**known))
        return cls(columns=tuple(columns), target=str(data.get("target") or "y"))

    @classmethod
    def numeric(
        cls,
        names: Sequence[str],
        target: str = "y",
        ranges: Sequence[Sequence[float]] | None = None,
    ) -> ColumnPlan:
        """The plan of plain numeric inputs (models trained before plans, hand-made Datasets)."""
        ranges = ranges or [(None, None)] * len(names)  # type: ignore[list-item]
        columns = tuple(
            Column(name, NUMBER, low=_float(low), high=_float(high))
            for name, (low, high) in zip(names, ranges, strict=True)
        )
        return cls(columns=columns, target=target)

    @classmethod
    def of_model(
        cls,
        scaling: Mapping[str, Any] | None,
        feature_names: Sequence[str],
        target: str = "y",
        feature_ranges: Sequence[Sequence[float]] | None = None,
    ) -> ColumnPlan:
        """The plan stored with a model, or the plain numeric one for models without it."""
        stored = (scaling or {}).get("columns")
        if stored:
            return cls.from_dict(stored)
        ranges = (
            feature_ranges if feature_ranges and len(feature_ranges) == len(feature_names) else None
        )
        return cls.numeric(list(feature_names), target, ranges)


def _day_first(iso: str) -> str:
    """ "2024-12-31 10:30" → "31.12.2024 10:30"."""
    day, _, time = iso.partition(" ")
    year, month, date = day.split("-")
    return f"{date}.{month}.{year}" + (f" {time}" if time else "")


def shorten(name: str, limit: int = MAX_NAME) -> str:
    """A name cut to ``limit`` characters, an ellipsis showing the cut."""
    return _short(name, limit)


def unique_name(name: str, seen: set[str], limit: int = MAX_NAME + 48) -> str:
    """``name`` (shortened to ``limit``), with a number added if ``seen`` has it; adds it."""
    candidate = _short(name, limit)
    number = 2
    while candidate.casefold() in seen:
        suffix = f"~{number}"
        candidate = _short(name, limit - len(suffix)) + suffix
        number += 1
    seen.add(candidate.casefold())
    return candidate


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _row_count(cells: Mapping[str, pd.Series], n_rows: int | None) -> int:
    lengths = {len(series) for series in cells.values()}
    if n_rows is not None:
        lengths.add(n_rows)
    if len(lengths) != 1:
        raise ValueError("every column of cells must have the same length, and there must be one")
    return lengths.pop()


def _column_dict(column: Column) -> dict[str, Any]:
    data = asdict(column)
    data["levels"] = list(column.levels)
    data["parts"] = list(column.parts)
    data["gap_words"] = list(column.gap_words)
    return data


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
