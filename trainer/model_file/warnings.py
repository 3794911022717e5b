"""Why a prediction may be a guess, as facts: an input far outside its training range, an input
that was filled, a category never seen in training.

Per row for ``/predict`` (``row_warnings``), and per column with row counts for a table of
inputs (``table_warnings``); trainer.words puts them in words.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trainer.tables.columns import CATEGORY, DATE, NUMBER, Column, ColumnPlan, Encoded

# A value further than this share of the training range beyond its min or max gets a warning.
FAR_OUTSIDE = 0.1
FAR, FILLED, UNSEEN, ABSENT = "far_outside", "filled", "unseen", "absent"


@dataclass(frozen=True)
class InputWarning:
    """One input's reason for doubt: ``kind`` is "far_outside", "filled", "unseen" or (for a
    table) "absent"; ``values`` holds what the sentence needs (the value and range as the
    column writes them, how it was filled, the unseen cell, a table's row count)."""

    column: str
    kind: str
    values: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"column": ..., "kind": ..., **values}``."""
        return {"column": self.column, "kind": self.kind, **self.values}


def row_warnings(plan: ColumnPlan, encoded: Encoded, row: int) -> tuple[InputWarning, ...]:
    """The warnings of one row: far-outside inputs first, then filled and unseen ones."""
    far, notes = [], []
    for column in plan.inputs:
        name = column.name
        if _outside(column, encoded)[row]:
            value = column.value_text(float(encoded.values[name][row]))
            far.append(InputWarning(name, FAR, {"value": value, **_range(column)}))
        if encoded.filled[name][row]:
            notes.append(InputWarning(name, FILLED, _fill(column)))
        if column.role == CATEGORY and encoded.unseen[name][row]:
            cell = encoded.cells[name].iloc[row].strip()[:40]
            notes.append(InputWarning(name, UNSEEN, {"cell": cell, "other": column.other}))
    return (*far, *notes)


def table_warnings(
    plan: ColumnPlan, encoded: Encoded, absent: set[str]
) -> tuple[list[list[InputWarning]], list[InputWarning]]:
    """Per row, the warnings to tag it with; per column, one warning with its row count."""
    tags: list[list[InputWarning]] = [[] for _ in range(len(encoded.matrix))]
    notes: list[InputWarning] = []
    for column in plan.inputs:
        name = column.name
        outside = _outside(column, encoded)
        if outside.any():
            notes.append(InputWarning(name, FAR, {"rows": int(outside.sum()), **_range(column)}))
            _tag(tags, outside, InputWarning(name, FAR))
        filled = encoded.filled[name]
        if name in absent:
            notes.append(InputWarning(name, ABSENT, _fill(column)))
        elif filled.any():
            notes.append(InputWarning(name, FILLED, {"rows": int(filled.sum()), **_fill(column)}))
            _tag(tags, filled, InputWarning(name, FILLED))
        if column.role == CATEGORY and encoded.unseen[name].any():
            unseen = encoded.unseen[name]
            example = encoded.cells[name][unseen].iloc[0].strip()[:40]
            values = {"rows": int(unseen.sum()), "example": example, "other": column.other}
            notes.append(InputWarning(name, UNSEEN, values))
            _tag(tags, unseen, InputWarning(name, UNSEEN))
    return tags, notes


def _outside(column: Column, encoded: Encoded) -> np.ndarray:
    if column.role not in (NUMBER, DATE) or column.low is None or column.high is None:
        return np.zeros(len(encoded.matrix), dtype=bool)
    low, high = column.low, column.high
    span = high - low if high > low else max(abs(low), 1.0)
    values = encoded.values[column.name]
    return (values < low - FAR_OUTSIDE * span) | (values > high + FAR_OUTSIDE * span)


def _range(column: Column) -> dict[str, str]:
    return {
        "low": column.value_text(column.low),  # type: ignore[arg-type]
        "high": column.value_text(column.high),  # type: ignore[arg-type]
    }


def _fill(column: Column) -> dict[str, Any]:
    """What an empty input becomes: a category's "missing" value or none of the known values,
    or the training median (numbers) or middle date (dates)."""
    return {
        "role": column.role,
        "fill": column.fill_text(),
        "missing_level": bool(column.missing_level),
    }


def _tag(tags: list[list[InputWarning]], mask: np.ndarray, tag: InputWarning) -> None:
    for row in np.flatnonzero(mask):
        tags[row].append(tag)
