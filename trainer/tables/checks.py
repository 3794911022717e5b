"""The quick checks of an upload before it is queued, as the worker will read it, giving back
only what the reply needs.

The bot runs these in a bounded child process (``bot.parse_pool``): what comes back is a few
names and counts, never the parsed table, so the bot's memory does not grow with the file.
Failures are the readers' own: DatasetError for the file, PredictError for ``predict=``.
This module must stay free of Keras.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from trainer.errors import DatasetError
from trainer.limits import Limits
from trainer.tables.columns import CellError, ColumnPlan
from trainer.tables.dataset import cell_sentence, read_dataset, read_table
from trainer.tables.inputs import check_rows, rows_of
from trainer.tables.selection import input_cells
from trainer.tables.task import CLASSIFICATION
from trainer.words.classes import TUTORIAL_CLASSES


@dataclass(frozen=True)
class TrainingTable:
    """What a reply says about a table to train on: its rows, inputs and target."""

    n_rows: int
    input_names: list[str]
    target_name: str
    classes: list[str] | None = None  # issue 20: a class target's classes, None for numbers


@dataclass(frozen=True)
class InputsTable:
    """What a reply says about a table of inputs: its rows and column names."""

    n_rows: int
    names: list[str]


def check_training_table(
    data: bytes,
    *,
    x: Sequence[str] | None,
    y: str | None,
    sheet: str | None,
    limits: Limits,
    predict: Sequence[float] = (),
    task: str | None = None,
    preset: str = "default",
) -> TrainingTable:
    """Read the table as training will, and check that the values of ``predict=`` fit it
    (and that a class target does not ask for the tutorial's regressor)."""
    dataset = read_dataset(data, x=x, y=y, sheet=sheet, limits=limits, task=task)
    if dataset.task == CLASSIFICATION and preset == "tutorial":
        raise DatasetError(TUTORIAL_CLASSES)
    if predict:
        # The worker predicts these after training; a misfit must not cost the model.
        plan = dataset.column_plan
        check_rows(rows_of(list(predict), plan), plan)
    return TrainingTable(
        dataset.n_rows, list(dataset.input_names), dataset.target_name, dataset.classes
    )


def check_inputs_table(data: bytes, plan: ColumnPlan, limits: Limits) -> InputsTable:
    """Read a table of inputs as the predictor will."""
    table = read_table(data, limits=limits, min_columns=1)
    cells, _absent = input_cells(table, plan)
    try:
        plan.encode(cells, n_rows=table.n_rows, decimal_comma=table.decimal_comma)
    except CellError as error:
        raise DatasetError(cell_sentence(error, table.line_numbers)) from None
    return InputsTable(table.n_rows, list(table.names))
