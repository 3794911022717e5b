"""Regression or classification: the problem type of a target column, and a class target read.

Rules a user can rely on (issue 20):
- ``task=regression`` or ``task=classification`` is obeyed;
- otherwise a target of text (yes/no, setosa/virginica) is classes, and so is a target of
  exactly two values (0/1, 1/2); any other numbers (1-5 ratings, counts) are predicted as numbers;
- classes are the cells as written (spaces stripped; cells differing only in case are one
  class, written as most rows write it; numbers by value, so 1 and 1.0 are one class);
- at most MAX_CLASSES classes, each with at least MIN_CLASS_ROWS rows, else a sentence.

This module must stay free of Keras: the bot imports it for a quick check of uploads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from trainer.errors import DatasetError
from trainer.limits import Limits
from trainer.tables.notes import ColumnNote
from trainer.tables.numeric import Numbers
from trainer.words import classes as class_words

REGRESSION, CLASSIFICATION = "regression", "classification"
TASKS = (REGRESSION, CLASSIFICATION)
MAX_CLASSES = 20
# Each class must be in the held-out rows of most folds, and in the rows each member learns.
MIN_CLASS_ROWS = 5
# This share of text cells makes a target classes; fewer are mistakes in a column of numbers.
MOSTLY_TEXT = 0.2


@dataclass(frozen=True)
class ClassTarget:
    """A class target: each kept row's class number, the rows kept, and the classes in order."""

    codes: np.ndarray  # int64, an index into ``classes`` per kept row
    kept: np.ndarray  # the table rows that have a target
    classes: list[str]
    notes: list[ColumnNote]


def wants_classes(numbers: Numbers, requested: str | None) -> bool:
    """Whether the target read as ``numbers`` is classes (see the module's rules)."""
    if requested is not None:
        return requested == CLASSIFICATION
    present = int(numbers.present.sum())
    bad = int(numbers.bad.sum())
    if bad:
        # A few bad cells in numbers are mistakes the regressor's sentence names.
        return bad > MOSTLY_TEXT * present
    values = numbers.values[numbers.present & np.isfinite(numbers.values)]
    return np.unique(values).size == 2


def read_classes(
    cells: pd.Series, name: str, numbers: Numbers, limits: Limits, *, requested: str | None
) -> ClassTarget:
    """The class target of column ``name``, or a DatasetError saying why it cannot be one."""
    present = numbers.present
    kept = np.flatnonzero(present)
    if kept.size == 0:
        raise DatasetError(f'Column "{name}", the value to predict, has no values.')
    written = cells.astype(str).reset_index(drop=True).iloc[kept].str.strip()
    numeric = not numbers.bad[kept].any()
    keys = pd.Series(numbers.values[kept]) if numeric else written.str.casefold()
    codes, uniques = pd.factorize(keys.reset_index(drop=True), sort=True)
    if len(uniques) > MAX_CLASSES:
        if requested == CLASSIFICATION or numeric:
            raise DatasetError(class_words.too_many_classes(name, len(uniques), MAX_CLASSES))
        raise DatasetError(class_words.too_many_text_classes(name, len(uniques), MAX_CLASSES))
    classes = _labels(codes, written.reset_index(drop=True))
    codes = codes.astype(np.int64)
    if len(classes) == 1:
        raise DatasetError(class_words.one_class(name, classes[0]))
    dropped = len(cells) - kept.size
    if kept.size < limits.min_rows:
        if dropped:
            raise DatasetError(
                f'Only {kept.size} rows have a value in column "{name}" ({dropped:,} empty); '
                f"I need at least {limits.min_rows}."
            )
        raise DatasetError(
            f"The table has only {kept.size} rows of data; I need at least {limits.min_rows}."
        )
    counts = np.bincount(codes, minlength=len(classes))
    rarest = int(np.argmin(counts))
    if counts[rarest] < MIN_CLASS_ROWS:
        raise DatasetError(
            class_words.rare_class(name, classes[rarest], int(counts[rarest]), MIN_CLASS_ROWS)
        )
    notes = [ColumnNote(name, "target_dropped", {"rows": dropped})] if dropped else []
    return ClassTarget(codes=codes, kept=kept, classes=classes, notes=notes)


def _labels(codes: np.ndarray, written: pd.Series) -> list[str]:
    """Each class as most of its rows write it (classes ordered by their codes)."""
    frame = pd.DataFrame({"code": codes, "written": written})
    most = frame.groupby("code")["written"].agg(lambda forms: forms.value_counts().index[0])
    return [str(label) for label in most.sort_index()]
