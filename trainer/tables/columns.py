"""What a model does with each column of a table: the ColumnPlan, and applying it to raw cells.

A plan is decided once, from the training table (``trainer.tables.roles``), and then travels
with the model as JSON (inside the stored ``scaling`` dict, under ``"columns"``). Applying it to
new raw cells (a CSV or sheet of inputs, or ``/predict age=50 region=north``) gives exactly the
numeric matrix the network was trained on:

- a number column gives one feature, with empty cells filled by the training median, and a
  0/1 feature ``<name>_missing`` after it when training had gaps;
- a category column gives one 0/1 feature per level (``region=north``), plus
  ``region=(other)`` when training had rare levels (a value never seen in training counts as
  other too; without that column it is all zeros) and ``region=(missing)`` for empty cells;
- a date column gives ``<name>_year`` (a year fraction), ``<name>_weekday`` (Monday 0) where
  the weekday varies, and ``<name>_hour`` where the time of day varies, with gaps filled by
  the median date and marked like numbers;
- an ignored column (id, constant, empty, free text) gives nothing.

The mapping is plain data on purpose, so that it can become Keras preprocessing layers
(``StringLookup`` over ``levels`` with one out-of-vocabulary index when ``other``, a
``Normalization`` after the fill) or a few lines in a caption.

This module must stay free of Keras: the bot checks ``/predict`` values with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from trainer.tables.cells import MISSING, Dates, Numbers, read_dates, read_numbers, year_to_text

NUMBER, CATEGORY, DATE, IGNORED = "number", "category", "date", "ignored"
OTHER_LEVEL, MISSING_LEVEL = "(other)", "(missing)"
# Column names and the features made from them stay this short (storage, plots, messages).
MAX_NAME = 64
PLAN_VERSION = 1


class CellError(ValueError):
    """A cell that the plan cannot read: which column, which row (0-based), what it said.

    ``kind`` is "number", "date", "finite" (an infinity) or "missing" (an empty cell where the
    model knows no fill); the message words it for someone typing ``/predict``.
    """

    _WORDING: ClassVar[dict[str, str]] = {
        "number": '{column} must be a number, not "{cell}".',
        "date": '{column} must be a date like 2026-01-31, not "{cell}".',
        "finite": '{column} must be a finite number, not "{cell}".',
        "missing": "This model needs a value for {column}.",
    }

    def __init__(self, column: str, row: int, cell: str, kind: str) -> None:
        super().__init__(self._WORDING[kind].format(column=column, cell=_short(cell, 24)))
        self.column, self.row, self.cell, self.kind = column, row, cell, kind


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
    day_first: bool = False  # dates like 03/04/2026 are day first

    @property
    def used(self) -> bool:
        return self.role != IGNORED

    def fill_text(self) -> str | None:
        """The fill as people read it (a median number or date), for messages."""
        if self.fill is None:
            return None
        return year_to_text(self.fill) if self.role == DATE else f"{self.fill:g}"

    def value_text(self, value: float) -> str:
        """A number of this column as people read it (dates as dates)."""
        return year_to_text(value) if self.role == DATE else f"{value:g}"

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
class Encoded:
    """Raw cells turned into the network's inputs, with what was filled or unseen per row."""

    matrix: np.ndarray  # float64, one column per feature of the plan
    values: dict[str, np.ndarray] = field(default_factory=dict)  # number/date columns, filled
    filled: dict[str, np.ndarray] = field(default_factory=dict)  # empty cells given the fill
    unseen: dict[str, np.ndarray] = field(default_factory=dict)  # categories not in training
    cells: dict[str, pd.Series] = field(default_factory=dict)  # the text as given


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
        ``parsed`` holds columns read already (by ``trainer.tables.roles``), so they are not
        read twice.
        """
        n_rows = _row_count(cells, n_rows)
        blocks: list[np.ndarray] = []
        encoded = Encoded(np.empty((n_rows, 0)))
        for column in self.inputs:
            raw = cells.get(column.name)
            text = pd.Series([""] * n_rows, dtype=object) if raw is None else raw.astype(str)
            text = text.reset_index(drop=True)
            encoded.cells[column.name] = text
            if column.role == CATEGORY:
                blocks.append(_encode_category(column, text, encoded))
            else:
                read = (parsed or {}).get(column.name)
                blocks.append(_encode_number_or_date(column, text, decimal_comma, encoded, read))
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
            for key in ("levels", "parts"):
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


def _encode_number_or_date(
    column: Column,
    text: pd.Series,
    decimal_comma: bool,
    encoded: Encoded,
    read: Numbers | Dates | None,
) -> np.ndarray:
    if column.role == DATE:
        dates = read if isinstance(read, Dates) else read_dates(text, day_first=column.day_first)
        missing, bad = dates.missing, dates.bad
        parts = {"year": dates.year, "weekday": dates.weekday, "hour": dates.hour}
    else:
        numbers = read if isinstance(read, Numbers) else read_numbers(text, decimal_comma)
        missing, bad = numbers.missing, numbers.bad
        parts = {"value": numbers.values}
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise CellError(column.name, row, text.iloc[row].strip(), column.role)
    main = parts["year" if column.role == DATE else "value"]
    infinite = ~np.isfinite(main) & ~missing
    if infinite.any():
        row = int(np.flatnonzero(infinite)[0])
        raise CellError(column.name, row, text.iloc[row].strip(), "finite")
    if missing.any():
        if column.fill is None:
            row = int(np.flatnonzero(missing)[0])
            raise CellError(column.name, row, text.iloc[row].strip(), "missing")
        if column.role == DATE:
            fill = read_dates(pd.Series([year_to_text(column.fill)]))
            for part, values in (
                ("year", fill.year),
                ("weekday", fill.weekday),
                ("hour", fill.hour),
            ):
                parts[part] = np.where(missing, values[0], parts[part])
        else:
            parts["value"] = np.where(missing, column.fill, parts["value"])
    encoded.values[column.name] = parts["year" if column.role == DATE else "value"]
    encoded.filled[column.name] = missing
    features = [parts[part] for part in column.parts] if column.role == DATE else [parts["value"]]
    if column.indicator:
        features.append(missing.astype(np.float64))
    return np.column_stack(features)


def _encode_category(column: Column, text: pd.Series, encoded: Encoded) -> np.ndarray:
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
    return data


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
