"""Deciding from a training table what each candidate input column is, and noting it.

The rules, in order, for each column (after the rows without a target are dropped):
- no values at all: ignored;
- every value a number (in any form ``trainer.tables.numeric`` reads, with the decimal mark the
  column settles): a number column, unless it is constant or an integer row counter named like
  an id (``id``, ``index``, ``customer_id``, or a blank header over 1, 2, 3, ...), which are
  ignored;
- mostly numbers (``MOSTLY``) with a few words (at most ``FEW_WORDS`` different ones, or a
  twentieth of the rows): the words are gaps, filled and marked like empty cells, and the note
  names them (Cylinders holding "rotary" once among numbers); with more words than that the
  table is refused, naming the first one;
- every value a date: a date column (ignored when constant); mostly dates: the same as numbers;
- otherwise text: a category, or ignored as an id or free text (``trainer.tables.categories``).
Columns the user chose with ``x=`` are never ignored: ids and free text become categories of
their most common values, constants stay numbers.

What was done with each column that is no plain number comes back as a ColumnNote (a kind and
its values); trainer.words says it in words. This module must stay free of Keras.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from trainer.errors import DatasetError
from trainer.tables.categories import decide_category, fit_budget
from trainer.tables.cells import MAX_LEVEL, clip, gaps
from trainer.tables.columns import DATE, IGNORED, NUMBER, Column, ColumnPlan
from trainer.tables.dates import Dates, read_dates
from trainer.tables.notes import ColumnNote, ignored
from trainer.tables.numeric import COMMA, POINT, Numbers, read_numbers

__all__ = ["MOSTLY", "REASONS", "ColumnNote", "decide_columns", "ignored"]

MOSTLY = 0.8  # this share of numbers (or dates) makes the other cells mistakes, not categories
FEW_WORDS = 3  # this many different words in a number column are gaps, however often they come
SOME_WORDS = (0.05, 20)  # so are up to 20 different ones, in at most this share of the rows
SAMPLE = 1000  # rows looked at first to tell a text column from numbers or dates
_ID_NAME = re.compile(
    r"ids?|index|idx|key|row|rownum|row[ _-]?(?:id|no|nr|num|number)|no\.?|nr\.?|n°|#"
    r"|uuid|guid|.+[ _-]id|.+[a-z]Id",
)
_BLANK_HEADER = re.compile(r"column\d+|unnamed: ?\d+", re.IGNORECASE)

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
    line_numbers: np.ndarray,
    hint: str = POINT,
    budget: int | None = None,
    parsed: dict[str, Numbers | Dates] | None = None,
) -> tuple[ColumnPlan, list[ColumnNote]]:
    """The plan for ``candidates`` and one note per column that was not a plain number.

    ``hint`` is the table's decimal mark, for columns whose cells do not settle theirs;
    ``budget`` the most features the plan may give (categories pool levels to fit). ``parsed``,
    when given, receives each number or date column as read, for ``ColumnPlan.encode`` to use
    instead of reading the cells again.
    """
    columns: list[Column] = []
    notes: list[ColumnNote] = []
    for name in candidates:
        column, note, read = _decide(
            name, cells[name], explicit=explicit, hint=hint, lines=line_numbers
        )
        columns.append(column)
        if note:
            notes.append(note)
        if parsed is not None and read is not None and column.role in (NUMBER, DATE):
            parsed[name] = read
    columns, notes = fit_budget(columns, notes, budget)
    plan = ColumnPlan(tuple(columns), target)
    if not plan.inputs:
        why = "; ".join(f'"{c.name}" is {REASONS[c.reason]}' for c in columns[:3])
        more = f" (and {len(columns) - 3} more)" if len(columns) > 3 else ""
        raise DatasetError(f"I found no input column to learn from: {why}{more}.")
    return plan, notes


Decision = tuple[Column, ColumnNote | None, Numbers | Dates | None]


def _decide(
    name: str, text: pd.Series, *, explicit: bool, hint: str, lines: np.ndarray
) -> Decision:
    # A look at the first rows settles most text columns at once: reading a million names
    # leniently as numbers, then as dates, would take seconds for nothing.
    head = text.iloc[:SAMPLE]
    if _mostly_bad(read_numbers(head, hint)) and _mostly_bad(read_dates(head)):
        missing = gaps(text)
        if missing.all():
            return _empty(name, explicit)
        return (*decide_category(name, text, missing, explicit), None)
    numbers = read_numbers(text, hint)
    n_present = int(numbers.present.sum())
    if n_present == 0:
        return _empty(name, explicit)
    n_bad = int(numbers.bad.sum())
    if n_bad <= (1 - MOSTLY) * n_present:
        words = _words_as_gaps(name, text, numbers.bad, lines, "numbers")
        return (*_number(name, text, numbers, words, explicit, lines), _as_gaps(numbers))
    dates = read_dates(text)
    if int(dates.bad.sum()) <= (1 - MOSTLY) * n_present:
        words = _words_as_gaps(name, text, dates.bad, lines, "dates")
        return (*_date(name, text, dates, words, explicit), _as_gaps(dates))
    return (*decide_category(name, text, numbers.missing, explicit), None)


def _as_gaps(read: Numbers | Dates) -> Numbers | Dates:
    """The column as the model reads it: its words (few, or they were refused) are gaps."""
    return replace(read, missing=read.missing | read.bad, bad=np.zeros_like(read.bad))


def _mostly_bad(read: Numbers | Dates) -> bool:
    present = int((~read.missing).sum())
    return present > 0 and int(read.bad.sum()) > 0.5 * present


def _empty(name: str, explicit: bool) -> Decision:
    if explicit:
        raise DatasetError(f'Column "{name}" has no values.')
    return Column(name, IGNORED, "empty"), ignored(name, "empty"), None


def _words_as_gaps(
    name: str, text: pd.Series, bad: np.ndarray, lines: np.ndarray, what: str
) -> tuple[str, ...]:
    """The words of a number (or date) column, casefolded, when they are few enough to be gaps;
    else the table is refused."""
    if not bad.any():
        return ()
    cells = text.iloc[np.flatnonzero(bad)].astype(str).str.strip()
    words = list(dict.fromkeys(cells.str.casefold()))
    share, most = SOME_WORDS
    n_values = int((~gaps(text)).sum())
    if len(words) <= FEW_WORDS or (len(cells) <= share * n_values and len(words) <= most):
        return tuple(word for word in words if len(word) <= MAX_LEVEL)
    row = int(np.flatnonzero(bad)[0])
    raise DatasetError(
        f'Column "{name}" is mostly {what} but has {len(cells):,} cells that are not, like '
        f'"{clip(text.iloc[row])}" in row {lines[row]}; please fix them or leave them empty.'
    )


def _number(
    name: str,
    text: pd.Series,
    numbers: Numbers,
    words: tuple[str, ...],
    explicit: bool,
    lines: np.ndarray,
) -> tuple[Column, ColumnNote | None]:
    present = numbers.present & ~numbers.bad
    values = numbers.values[present]
    infinite = np.flatnonzero(present & np.isinf(numbers.values))
    if infinite.size:
        row = int(infinite[0])
        raise DatasetError(
            f'Column "{name}" has an infinite value in row {lines[row]}: '
            f'"{clip(text.iloc[row])}"; please fix it or leave the cell empty.'
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
        decimal=numbers.decimal,
        gap_words=words,
    )
    said = reading_said(text, numbers)
    said.update(_words_said(text, numbers.bad))
    if not said and not n_missing:
        return column, None
    return column, ColumnNote(name, "number", {"missing": n_missing, "median": median, **said})


def reading_said(text: pd.Series, numbers: Numbers) -> dict[str, Any]:
    """What a note says of how a column's numbers were read: a cell that needed the lenient
    reading, a decimal mark no cell settled, cells read with the other mark."""
    said: dict[str, Any] = {}
    if numbers.example is not None:
        read = numbers.values[np.flatnonzero(text.astype(str).str.strip() == numbers.example)[0]]
        said.update(example=clip(numbers.example), read=float(read))
    if numbers.unsettled and numbers.decimal == COMMA:
        # A dot read as thousands ("1.200" as 1200) because the table's other columns or its
        # delimiter said so: worth a word. A point where no cell said is what most expect.
        said["unsettled"] = numbers.decimal
    if numbers.other_mark:
        said["other_mark"] = numbers.other_mark
    return said


def _date(
    name: str, text: pd.Series, dates: Dates, words: tuple[str, ...], explicit: bool
) -> tuple[Column, ColumnNote]:
    present = ~dates.missing & ~dates.bad
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
        origin=float(np.floor(year.min())),
        gap_words=words,
    )
    note = {"parts": list(parts), "missing": n_missing, "fill": column.fill_text()}
    note.update(_words_said(text, dates.bad))
    return column, ColumnNote(name, "date", note)


def _words_said(text: pd.Series, bad: np.ndarray) -> dict[str, Any]:
    """How many cells were words read as gaps, and the first one as written, for the note."""
    if not bad.any():
        return {}
    return {"words": int(bad.sum()), "word": clip(text.iloc[int(np.flatnonzero(bad)[0])])}


def _is_counter(name: str, values: np.ndarray) -> bool:
    """Whole numbers, all different, under an id's name (or a blank header over 1, 2, 3...)."""
    if not np.all(values == np.round(values)) or len(np.unique(values)) != len(values):
        return False
    if _ID_NAME.fullmatch(name.strip()) or _ID_NAME.fullmatch(name.strip().lower()):
        return True
    return bool(_BLANK_HEADER.fullmatch(name)) and bool(np.all(np.diff(values) == 1))
