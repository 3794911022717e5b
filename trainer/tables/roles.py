"""Deciding from a training table what each candidate input column is, and noting it.

The rules, in order, for each column (after the rows without a target are dropped):
- no values at all: ignored;
- every value a number (in any form ``trainer.tables.cells`` reads): a number column, unless it is
  constant or an integer row counter named like an id (``id``, ``index``, ``customer_id``,
  or a blank header over 1, 2, 3, ...), which are ignored;
- mostly numbers with a few words: refused, naming the first word (a typo or a footer is
  likelier than a category);
- every value a date: a date column (ignored when constant); mostly dates: refused likewise;
- otherwise text: ignored when constant, or when every value differs (an id, a name); else a
  category of its most common values (at most ``MAX_LEVELS``, each seen at least ``RARE``
  times), the rest as "other"; ignored as free text when those cover under half the rows.
Columns the user chose with ``x=`` are never ignored: ids and free text become categories of
their most common values, constants stay numbers.

What was done with each column that is no plain number comes back as a ColumnNote (a kind and
its values); trainer.words says it in words.

This module must stay free of Keras: the bot validates uploads with it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from trainer.errors import DatasetError
from trainer.tables.cells import MISSING, Dates, Numbers, read_dates, read_numbers
from trainer.tables.columns import CATEGORY, DATE, IGNORED, NUMBER, Column, ColumnPlan

MAX_LEVELS = 25  # as PyCaret's default: one-hot columns per category at most
RARE = 2  # a level seen fewer times goes to "other"
MIN_COVERED = 0.5  # the kept levels must cover this share of the rows, else it is free text
MOSTLY = 0.8  # this share of numbers (or dates) makes the other cells mistakes, not categories
SAMPLE = 1000  # rows looked at first to tell a text column from numbers or dates
_ID_NAME = re.compile(
    r"ids?|index|idx|key|row|rownum|row[ _-]?(?:id|no|nr|num|number)|no\.?|nr\.?|n°|#"
    r"|uuid|guid|.+[ _-]id|.+[a-z]Id",
)
_BLANK_HEADER = re.compile(r"column\d+|unnamed: ?\d+", re.IGNORECASE)


@dataclass(frozen=True)
class ColumnNote:
    """What was done with a column that was no plain number: ``kind`` is "ignored" (with a
    ``reason``), "number" (cells read leniently, gaps filled), "date", "category" or
    "target_dropped" (rows without a target), and ``values`` holds its figures."""

    column: str
    kind: str
    values: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"column": ..., "kind": ..., **values}``."""
        return {"column": self.column, "kind": self.kind, **self.values}


def ignored(name: str, reason: str, **values: Any) -> ColumnNote:
    return ColumnNote(name, "ignored", {"reason": reason, **values})


REASONS = {
    "empty": "no values",
    "constant": "the same value in every row",
    "id": "an id",
    "text": "text with too many different values",
}


def decide_columns(
    cells: Mapping[str, pd.Series],
    candidates: Sequence[str],
    target: str,
    *,
    explicit: bool,
    decimal_comma: bool,
    line_numbers: np.ndarray,
    parsed: dict[str, Numbers | Dates] | None = None,
) -> tuple[ColumnPlan, list[ColumnNote]]:
    """The plan for ``candidates`` and one note per column that was not a plain number.

    ``parsed``, when given, receives each number or date column as read, for
    ``ColumnPlan.encode`` to use instead of reading the cells again.
    """
    columns: list[Column] = []
    notes: list[ColumnNote] = []
    for name in candidates:
        column, note, read = _decide(
            name, cells[name], explicit=explicit, decimal_comma=decimal_comma, lines=line_numbers
        )
        columns.append(column)
        if note:
            notes.append(note)
        if parsed is not None and read is not None and column.role in (NUMBER, DATE):
            parsed[name] = read
    plan = ColumnPlan(tuple(columns), target)
    if not plan.inputs:
        why = "; ".join(f'"{c.name}" is {REASONS[c.reason]}' for c in columns[:3])
        more = f" (and {len(columns) - 3} more)" if len(columns) > 3 else ""
        raise DatasetError(f"I found no input column to learn from: {why}{more}.")
    return plan, notes


def _decide(
    name: str, text: pd.Series, *, explicit: bool, decimal_comma: bool, lines: np.ndarray
) -> tuple[Column, ColumnNote | None, Numbers | Dates | None]:
    # A look at the first rows settles most text columns at once: reading a million names
    # leniently as numbers, then as dates, would take seconds for nothing.
    head = text.iloc[:SAMPLE]
    if _mostly_bad(read_numbers(head, decimal_comma)) and _mostly_bad(read_dates(head)):
        missing = text.astype(str).str.strip().str.lower().isin(MISSING).to_numpy()
        if missing.all():
            return _empty(name, explicit)
        return (*_category(name, text, missing, explicit), None)
    numbers = read_numbers(text, decimal_comma)
    n_present = int(numbers.present.sum())
    if n_present == 0:
        return _empty(name, explicit)
    n_bad = int(numbers.bad.sum())
    if n_bad == 0:
        return (*_number(name, text, numbers, explicit, lines), numbers)
    if n_bad <= (1 - MOSTLY) * n_present:
        _refuse_first(name, text, numbers.bad, lines, "a number")
    dates = read_dates(text)
    if not dates.bad.any():
        return (*_date(name, dates, explicit), dates)
    if int(dates.bad.sum()) <= (1 - MOSTLY) * n_present:
        _refuse_first(name, text, dates.bad, lines, "a date")
    return (*_category(name, text, numbers.missing, explicit), None)


def _mostly_bad(read: Numbers | Dates) -> bool:
    present = int((~read.missing).sum())
    return present > 0 and int(read.bad.sum()) > 0.5 * present


def _empty(name: str, explicit: bool) -> tuple[Column, ColumnNote, None]:
    if explicit:
        raise DatasetError(f'Column "{name}" has no values.')
    return Column(name, IGNORED, "empty"), ignored(name, "empty"), None


def _number(
    name: str, text: pd.Series, numbers: Numbers, explicit: bool, lines: np.ndarray
) -> tuple[Column, ColumnNote | None]:
    present = numbers.present
    values = numbers.values[present]
    infinite = np.flatnonzero(present & np.isinf(numbers.values))
    if infinite.size:
        row = int(infinite[0])
        raise DatasetError(
            f'Column "{name}" has an infinite value in row {lines[row]}: '
            f'"{_cell(text.iloc[row])}"; please fix it or leave the cell empty.'
        )
    n_missing = len(text) - len(values)
    if not explicit and not n_missing:
        if np.ptp(values) == 0:
            constant = ignored(name, "constant", value=float(values[0]))
            return Column(name, IGNORED, "constant"), constant
        if _is_counter(name, values):
            return Column(name, IGNORED, "id"), ignored(name, "counter")
    median = float(np.median(values))
    column = Column(
        name,
        NUMBER,
        fill=median,
        indicator=n_missing > 0,
        low=float(values.min()),
        high=float(values.max()),
    )
    if numbers.example is None and not n_missing:
        return column, None
    said: dict[str, Any] = {"missing": n_missing, "median": median}
    if numbers.example is not None:
        read = numbers.values[np.flatnonzero(text.astype(str).str.strip() == numbers.example)[0]]
        said.update(example=_cell(numbers.example), read=float(read))
    return column, ColumnNote(name, "number", said)


def _date(name: str, dates: Dates, explicit: bool) -> tuple[Column, ColumnNote]:
    present = ~dates.missing
    year = dates.year[present]
    n_missing = len(dates.year) - len(year)
    if not explicit and not n_missing and np.ptp(year) == 0:
        return Column(name, IGNORED, "constant"), ignored(name, "same_date")
    parts = ["year"]
    # Monthly or yearly data fall on any weekday; only a weekday that moves within a month
    # can mean something.
    if len(np.unique(dates.weekday[present])) > 1 and len(np.unique(dates.day[present])) > 1:
        parts.append("weekday")
    if len(np.unique(dates.hour[present])) > 1:
        parts.append("hour")
    # A real date of the column (the lower middle one), so that its parts fit together.
    middle = float(np.sort(year)[(len(year) - 1) // 2])
    column = Column(
        name,
        DATE,
        fill=middle,
        indicator=n_missing > 0,
        low=float(year.min()),
        high=float(year.max()),
        parts=tuple(parts),
        day_first=dates.day_first,
    )
    note = {"parts": list(parts), "missing": n_missing, "fill": column.fill_text()}
    return column, ColumnNote(name, "date", note)


def _category(
    name: str, text: pd.Series, missing: np.ndarray, explicit: bool
) -> tuple[Column, ColumnNote]:
    values = text[~missing].astype(str).str.strip()
    counts = values.value_counts().to_dict()
    n_present, n_distinct, n_missing = len(values), len(counts), int(missing.sum())
    if not explicit:
        if n_distinct == 1 and not n_missing:
            only = next(iter(counts))
            return Column(name, IGNORED, "constant"), ignored(name, "constant", value=_cell(only))
        if n_distinct == n_present:
            return Column(name, IGNORED, "id"), ignored(name, "all_different")
    # Most common first; ties in the order of first appearance, so the plan is reproducible.
    first_seen = {value: i for i, value in enumerate(pd.unique(values))}
    order = sorted(counts, key=lambda level: (-counts[level], first_seen[level]))
    kept = [level for level in order if counts[level] >= RARE][:MAX_LEVELS]
    if explicit and not kept:
        kept = order[:MAX_LEVELS]
    covered = sum(int(counts[level]) for level in kept) / n_present
    if not explicit and (not kept or covered < MIN_COVERED):
        return Column(name, IGNORED, "text"), ignored(name, "text", values=n_distinct)
    column = Column(
        name,
        CATEGORY,
        levels=tuple(kept),
        other=len(kept) < n_distinct,
        missing_level=n_missing > 0,
    )
    other = n_distinct - len(kept)
    note = {"levels": len(kept), "other": other, "missing": n_missing}
    return column, ColumnNote(name, "category", note)


def _is_counter(name: str, values: np.ndarray) -> bool:
    """Whole numbers, all different, under an id's name (or a blank header over 1, 2, 3...)."""
    if not np.all(values == np.round(values)) or len(np.unique(values)) != len(values):
        return False
    if _ID_NAME.fullmatch(name.strip()) or _ID_NAME.fullmatch(name.strip().lower()):
        return True
    return bool(_BLANK_HEADER.fullmatch(name)) and bool(np.all(np.diff(values) == 1))


def _refuse_first(
    name: str, text: pd.Series, bad: np.ndarray, lines: np.ndarray, what: str
) -> None:
    row = int(np.flatnonzero(bad)[0])
    raise DatasetError(
        f'Column "{name}" has a value that is not {what} in row {lines[row]}: '
        f'"{_cell(text.iloc[row])}".'
    )


def _cell(cell: object, limit: int = 24) -> str:
    text = str(cell).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"
