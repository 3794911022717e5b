"""Which columns are the target and the inputs, and finding a column by the name people type.

Without ``y=`` the target is the column named ``y``, else the last column; but where ``x``,
``y`` and ``z`` stand together beside other named columns they are coordinates, like the x, y
and z sizes in a table of diamond prices: inputs like the others, and the target is the last
column that is not one of them. Without ``x=`` every other column is an input (the table's columns
decide, in ``trainer.tables.roles``, whether each is used); ``x=`` names the inputs.

This module must stay free of Keras.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from trainer.errors import DatasetError
from trainer.tables.columns import CATEGORY, ColumnPlan, shorten

if TYPE_CHECKING:
    from trainer.tables.dataset import Table

COORDINATES = ("x", "y", "z")
# Names of a function's inputs: x, x1, x_2, X3 (the names a headerless table gets, too).
_INPUT_NAME = re.compile(r"x[ _]?\d*", re.IGNORECASE)


def choose_columns(
    names: Sequence[str], *, x: Sequence[str] | None = None, y: str | None = None
) -> tuple[str, list[str]]:
    """Pick the target and the input columns: ``x``/``y`` where given, else the defaults."""
    target = find_column(names, y) if y is not None else default_target(names)
    if x:
        features = [find_column(names, name) for name in x]
        for name in features:
            if features.count(name) > 1:
                raise DatasetError(f'Column "{name}" is listed twice as an input.')
            if name == target:
                raise DatasetError(f'Column "{name}" can\'t be both an input and the target.')
    else:
        features = [name for name in names if name != target]
    if not features:
        raise DatasetError("I need at least one input column besides the target.")
    return target, features


def default_target(names: Sequence[str]) -> str:
    """``y``, else the last column; the last other column where x, y and z are coordinates."""
    named_y = find_optional(names, "y")
    coordinates = [name for name in names if name.strip().casefold() in COORDINATES]
    others = [
        name
        for name in names
        if name not in coordinates and not _INPUT_NAME.fullmatch(name.strip())
    ]
    if len(coordinates) == len(COORDINATES) and others:
        return others[-1]
    return named_y or names[-1]


def find_column(names: Sequence[str], wanted: str) -> str:
    """Return the column called ``wanted`` (exact, else case-insensitive), or explain."""
    found = find_optional(names, wanted)
    if found is None:
        shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
        raise DatasetError(f'There is no column named "{wanted}"; the columns are: {shown}.')
    return found


def find_optional(names: Sequence[str], wanted: str) -> str | None:
    """The column called ``wanted``: exact, else the one that matches in any case, else None."""
    if wanted in names:
        return wanted
    for key in (wanted.strip(), shorten(wanted.strip())):
        folded = [name for name in names if name.casefold() == key.casefold()]
        if len(folded) == 1:
            return folded[0]
    return None


def input_cells(table: Table, plan: ColumnPlan) -> tuple[dict[str, pd.Series], list[str]]:
    """A table's cells for each input of ``plan``, and the inputs it lacks.

    With a header, columns are found by name (any case) and extra ones are left alone; an
    input without a column is filled as in training in every row (the caller names it).
    Without a header the first columns are the inputs, in training order.
    """
    inputs = plan.inputs
    if not table.has_header:
        if len(table.names) < len(inputs):
            names = ", ".join(plan.input_names)
            raise DatasetError(f"The file needs {len(inputs)} columns of inputs ({names}).")
        return {c.name: table.cells[n] for c, n in zip(inputs, table.names, strict=False)}, []
    cells: dict[str, pd.Series] = {}
    absent: list[str] = []
    for column in inputs:
        found = find_optional(table.names, column.name)
        if found is not None:
            cells[column.name] = table.cells[found]
        elif column.fill is None and column.role != CATEGORY:
            # Models stored before column plans know no fill: the column must be there.
            find_column(table.names, column.name)
        else:
            absent.append(column.name)
    if not cells:
        wanted = ", ".join(f'"{name}"' for name in plan.input_names[:5])
        shown = ", ".join(table.names[:12]) + (", ..." if len(table.names) > 12 else "")
        raise DatasetError(
            f"There is no column named {wanted} in the file; its columns are: {shown}."
        )
    return cells, absent
