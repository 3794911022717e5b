"""What people type after ``/predict`` (or ``--predict``): named values, bare values, rows.

- Named: ``/predict bmi=32 age=50 region=north``. Names are the table's column names, in any
  case; a value with spaces goes in quotes (``city="New York"``); ``;`` starts another row.
  A name the model does not know is refused with the list of its inputs; an input left out
  is filled as in training (the median, the middle date, the "missing" level), and the answer
  says so. The same holds for a CSV of inputs: missing columns are filled and named.
- Bare: ``/predict 200`` or ``/predict 1 2 3.5``: values in the order of the model's inputs,
  separated by spaces, commas or semicolons, as many rows as they fill; when the training table
  wrote decimal commas, a comma is a decimal mark (``/predict 50,5``), not a separator.
- Numbers are read as the training table wrote them: ``Площадь=50,5`` when it used decimal
  commas, ``date=31.12.2024`` when it wrote days first.

Both give rows of ``{input name: text}``, which ``ColumnPlan.encode`` reads like table cells,
so a value means the same typed here as in the training file. This module must stay free of
Keras: the bot checks ``/predict`` with it before queueing.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from trainer.errors import PredictError
from trainer.limits import Limits
from trainer.tables.columns import CATEGORY, NUMBER, CellError, Column, ColumnPlan
from trainer.tables.numeric import COMMA

Row = dict[str, str]


def parse_inputs(tokens: Sequence[str], plan: ColumnPlan, limits: Limits = Limits()) -> list[Row]:  # noqa: B008
    """Rows of named raw values from ``/predict`` tokens; PredictError says what is wrong."""
    text = " ".join(tokens).strip()
    if not text:
        raise PredictError("Give at least one value to predict, e.g. /predict 200.")
    if "=" in text:
        rows = [_named_row(part, plan) for part in text.split(";") if part.strip()]
        count = sum(len(row) for row in rows)
    else:
        separators = text.replace(";", " ")
        if not _decimal_commas(plan):
            separators = separators.replace(",", " ")
        values = separators.split()
        rows = _positional_rows(values, plan)
        count = len(values)
    if count > limits.max_predict_values:
        raise PredictError(
            f"That is {count} values; I predict at most {limits.max_predict_values} at once."
        )
    check_rows(rows, plan)
    return rows


def rows_of(values: Any, plan: ColumnPlan) -> list[Row]:
    """Rows of named text from what a job or a caller holds: rows of ``{name: value}``, rows of
    values in input order, or a flat list of values (as many rows as it fills)."""
    if isinstance(values, np.ndarray):
        values = values.tolist()
    values = list(values)
    if values and all(isinstance(row, Mapping) for row in values):
        return [_canonical(row, plan) for row in values]
    if values and all(isinstance(row, list | tuple) for row in values):
        k = len(plan.input_names)
        for row in values:
            if len(row) != k:
                raise PredictError(f"This model needs {k} values per prediction.")
        columns = plan.inputs
        return [
            {c.name: _text(value, c) for c, value in zip(columns, row, strict=True)}
            for row in values
        ]
    k = max(len(plan.inputs), 1)
    texts = [
        _text(value, plan.inputs[i % k] if plan.inputs else None) for i, value in enumerate(values)
    ]
    return _positional_rows(texts, plan)


def cells_of(rows: Sequence[Row], plan: ColumnPlan) -> dict[str, pd.Series]:
    """Rows of named text as the columns ``ColumnPlan.encode`` reads (absent names: empty)."""
    return {
        name: pd.Series([row.get(name, "") for row in rows], dtype=object)
        for name in plan.input_names
    }


def check_rows(rows: Sequence[Row], plan: ColumnPlan) -> None:
    """Refuse a row whose values the model cannot read (a word where a number goes, ...).

    Only the columns given, and those a gap would break (no fill: models trained before
    plans), are read: the bot checks /predict in its event loop, and a model of 300 inputs
    must not cost it 300 columns for one value.
    """
    given = {name for row in rows for name in row}
    checked = ColumnPlan(
        tuple(
            column
            for column in plan.inputs
            if column.name in given or (column.fill is None and column.role != CATEGORY)
        ),
        plan.target,
    )
    try:
        checked.encode(cells_of(rows, checked), n_rows=len(rows))
    except CellError as error:
        raise PredictError(str(error)) from None


def example(plan: ColumnPlan, limit: int = 4) -> str:
    """Named values for a usage line, from training: ``bmi=30.5 age=39 region=north``."""
    parts = []
    for column in plan.inputs[:limit]:
        value = column.levels[0] if column.levels else column.fill_text() or "1"
        token = f"{column.name}={value}"
        parts.append(f'"{token}"' if " " in token else token)
    return " ".join(parts)


def _named_row(part: str, plan: ColumnPlan) -> Row:
    try:
        tokens = shlex.split(part)
    except ValueError:  # an unclosed quote: read it as typed
        tokens = part.split()
    row: Row = {}
    for token in tokens:
        name, sep, value = token.partition("=")
        if not sep or not name.strip():
            example = " ".join(f"{n}=…" for n in plan.input_names[:3])
            raise PredictError(
                f'Please write every input as name=value (e.g. {example}), not "{token[:24]}".'
            )
        column = plan.column(name)
        if column is None:
            raise PredictError(
                f'This model has no input "{name[:40]}"; its inputs are: {_list(plan)}.'
            )
        if column.name in row:
            raise PredictError(f"{column.name} is given twice.")
        row[column.name] = value.strip()
    return row


def _positional_rows(values: Sequence[str], plan: ColumnPlan) -> list[Row]:
    names = plan.input_names
    k = len(names)
    if not values or len(values) % k:
        raise PredictError(
            f"This model needs {k} values per prediction ({_list(plan)}); you gave {len(values)}."
            if k > 1
            else "Give at least one value to predict, e.g. /predict 200."
        )
    return [dict(zip(names, values[i : i + k], strict=True)) for i in range(0, len(values), k)]


def _canonical(row: Mapping[str, Any], plan: ColumnPlan) -> Row:
    named: Row = {}
    for name, value in row.items():
        column = plan.column(str(name))
        if column is None:
            raise PredictError(
                f'This model has no input "{str(name)[:40]}"; its inputs are: {_list(plan)}.'
            )
        named[column.name] = _text(value, column)
    return named


def _text(value: Any, column: Column | None) -> str:
    """A value as the cell text the column reads: floats in full, with the column's mark."""
    if value is None:
        return ""
    if isinstance(value, float | np.floating):
        text = repr(float(value))
        return text.replace(".", ",") if column is not None and column.decimal == COMMA else text
    return str(value)


def _decimal_commas(plan: ColumnPlan) -> bool:
    return any(column.role == NUMBER and column.decimal == COMMA for column in plan.inputs)


def _list(plan: ColumnPlan, limit: int = 10) -> str:
    names = plan.input_names
    return ", ".join(names[:limit]) + (
        f" and {len(names) - limit} more" if len(names) > limit else ""
    )
