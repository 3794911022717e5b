"""Text columns as categories: which levels get a 0/1 feature of their own, and keeping the
features of a whole table within a budget.

- A column where most rows (over ``MOSTLY_UNIQUE``) hold a value no other row has is an id or
  free text and is ignored; so is one whose ``MAX_LEVELS`` most common values cover under
  ``MIN_COVERED`` of the rows.
- Otherwise every level gets its own feature, levels seen once included (on small tables they
  carry what the line can use), up to ``MAX_LEVELS`` per column; the rarest beyond that are
  pooled as "(other)", and the note says how many. On tables over 1,000 rows a level needs
  a row per 1,000 (``RARE_PER_ROWS``) to get its own: a level on 2 of 6,000 rows tells a
  network little but noise, and pooled it is predicted as the other rare ones are. Every
  level with a feature of its own is known at ``/predict``.
- When a table's features would pass its budget (``Limits.feature_budget``: the network's
  input count, and rows times features within memory), the categories with the most levels
  pool their rarest ones until it fits, and the notes say so.

Columns the user chose with ``x=`` are never ignored. This module must stay free of Keras.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from trainer.errors import DatasetError
from trainer.tables.cells import MAX_LEVEL, clip
from trainer.tables.columns import CATEGORY, IGNORED, Column
from trainer.tables.notes import ColumnNote, ignored

MAX_LEVELS = 100  # one-hot features per category at most; the rarest beyond are "other"
MOSTLY_UNIQUE = 0.5  # more rows than this share with a value of their own: an id or free text
MIN_COVERED = 0.5  # the kept levels must cover this share of the rows, else it is free text
RARE_PER_ROWS = 1000  # a level needs a row per this many rows to get a feature of its own


def decide_category(
    name: str, text: pd.Series, missing: np.ndarray, explicit: bool
) -> tuple[Column, ColumnNote]:
    """A text column as a category of its most common values, or ignored (with why)."""
    values = text[~missing].astype(str).str.strip()
    counts = values.value_counts().to_dict()
    n_present, n_distinct, n_missing = len(values), len(counts), int(missing.sum())
    if not explicit:
        if n_distinct == 1 and not n_missing:
            only = next(iter(counts))
            return Column(name, IGNORED, "constant"), ignored(name, "constant", value=clip(only))
        if n_distinct == n_present:
            return Column(name, IGNORED, "id"), ignored(name, "all_different")
        unique = sum(1 for count in counts.values() if count == 1)
        if unique > MOSTLY_UNIQUE * n_present:
            return Column(name, IGNORED, "id"), ignored(
                name, "mostly_different", values=n_distinct, rows=n_present
            )
    # Most common first; ties in the order of first appearance, so the plan is reproducible.
    first_seen = {value: i for i, value in enumerate(pd.unique(values))}
    order = sorted(counts, key=lambda level: (-counts[level], first_seen[level]))
    kept = [level for level in order if len(level) <= MAX_LEVEL][:MAX_LEVELS]
    covered = sum(int(counts[level]) for level in kept) / max(n_present, 1)
    if not explicit and (not kept or covered < MIN_COVERED):
        return Column(name, IGNORED, "text"), ignored(name, "text", values=n_distinct)
    least = -(-len(text) // RARE_PER_ROWS)  # rows a level needs: 1 up to 1,000 rows
    common = [level for level in kept if counts[level] >= least]
    rare = len(kept) - len(common)
    kept = common if common else kept
    column = Column(
        name,
        CATEGORY,
        levels=tuple(kept),
        other=len(kept) < n_distinct,
        missing_level=n_missing > 0,
    )
    note = {"levels": len(kept), "other": n_distinct - len(kept), "missing": n_missing}
    if rare and common:
        note["rare"] = least
    return column, ColumnNote(name, "category", note)


def fit_budget(
    columns: list[Column], notes: list[ColumnNote], budget: int | None
) -> tuple[list[Column], list[ColumnNote]]:
    """Pool the rarest levels of the widest categories until the features fit ``budget``."""
    total = sum(len(column.feature_names()) for column in columns)
    if budget is None or total <= budget:
        return columns, notes
    columns = list(columns)
    while total > budget:
        widest = max(
            (i for i, c in enumerate(columns) if c.role == CATEGORY and len(c.levels) > 1),
            key=lambda i: len(columns[i].levels),
            default=None,
        )
        if widest is None:
            raise DatasetError(
                f"The table would give {total:,} numbers per row to learn from; with this many "
                f"rows I take at most {budget:,}: please choose fewer columns with x=."
            )
        column = columns[widest]
        # One level into "(other)" at a time would be slow; as many as the excess at once,
        # keeping at least one, and "(other)" itself may be new.
        excess = total - budget + (0 if column.other else 1)
        keep = max(1, len(column.levels) - excess)
        columns[widest] = replace(column, levels=column.levels[:keep], other=True)
        total = sum(len(c.feature_names()) for c in columns)
    pooled = {c.name: len(c.levels) for c in columns if c.role == CATEGORY}
    return columns, [_pooled_note(note, pooled) for note in notes]


def _pooled_note(note: ColumnNote, levels: dict[str, int]) -> ColumnNote:
    if note.kind != "category" or note.column not in levels:
        return note
    values = dict(note.values)
    pooled = int(values["levels"]) - levels[note.column]
    if pooled <= 0:
        return note
    values.update(levels=levels[note.column], other=int(values["other"]) + pooled, budget=True)
    return ColumnNote(note.column, note.kind, values)
