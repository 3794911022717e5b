"""Read an uploaded table (CSV or Excel) into numeric arrays, or say in one sentence what is wrong.

Rules a user can rely on:
- the first row is a header when any of its cells is not a number, date or gap; without a
  header the columns are named ``x`` and ``y`` (two columns), ``x`` (one column), or ``x1``,
  ``x2``, ... and ``y``; names over 64 characters are shortened (and kept unique);
- columns are separated by commas, semicolons or tabs (whichever makes a consistent table);
- each number column is read with one decimal mark, the one its cells settle, else the one the
  table's other columns settle, else a comma in semicolon- and tab-separated files and a point
  in comma-separated ones (``trainer.tables.numeric``); the plan keeps it for later inputs;
- text is UTF-8 (with or without BOM) or UTF-16 with BOM, else read in the code page its words
  make sense in (Windows-1251, Windows-1252, ...: ``trainer.tables.charsets``);
- an .xlsx workbook is read from its first sheet, or the one ``sheet=`` names; a .zip or .gz
  holding one table is unpacked within bounds first (``trainer.tables.archives``);
- the target is ``y=``, else the column named ``y``, else the last column; every other column is
  a candidate input, or those ``x=`` names (``trainer.tables.selection``);
- the target must be numbers; rows without one are dropped; inputs may be numbers (also
  "1,234.5", "$1,200", "12%"), categories, dates, with gaps: ``trainer.tables.roles`` decides
  what each column is, and the Dataset's ``notes`` say what was done with each one that was
  no plain number;
- row numbers in messages are line numbers of the file (or the sheet), the header being row 1.

This module must stay free of Keras: the bot imports it for a quick check of uploads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from trainer import words
from trainer.errors import DatasetError
from trainer.limits import Limits
from trainer.tables import archives, workbook
from trainer.tables.cells import clip
from trainer.tables.columns import MAX_NAME, CellError, ColumnPlan, shorten, unique_name
from trainer.tables.delimited import ONE_COLUMN, read_csv_cells
from trainer.tables.inputs import example
from trainer.tables.numeric import (
    COMMA,
    POINT,
    is_number,
    looks_like_data,
    read_numbers,
    table_mark,
)
from trainer.tables.roles import MOSTLY, ColumnNote, decide_columns, reading_said
from trainer.tables.selection import choose_columns, find_column, input_cells
from trainer.tables.task import CLASSIFICATION, REGRESSION, read_classes, wants_classes
from trainer.words import classes as class_words

__all__ = [
    "Dataset",
    "DatasetError",
    "Table",
    "choose_columns",
    "find_column",
    "input_cells",
    "read_dataset",
    "read_table",
]


@dataclass
class Dataset:
    """Numeric inputs and target chosen from an uploaded table.

    ``features`` are what the network sees (``feature_names``: one-hot and indicator columns
    included); ``plan`` says how raw columns became them, None meaning plain numeric columns.
    """

    features: np.ndarray
    target: np.ndarray
    feature_names: list[str]
    target_name: str
    plan: ColumnPlan | None = None
    notes: list[ColumnNote] = field(default_factory=list)
    # Issue 20: "classification" makes ``target`` class numbers, indices into ``classes``
    # (trainer.tables.task); ``task_inferred`` False when the user said task=.
    task: str = REGRESSION
    classes: list[str] | None = None
    task_inferred: bool = True

    @property
    def n_rows(self) -> int:
        """Number of data rows."""
        return int(self.target.shape[0])

    @property
    def column_plan(self) -> ColumnPlan:
        """The plan, also for a Dataset made by hand from numbers."""
        if self.plan is not None:
            return self.plan
        return ColumnPlan.numeric(self.feature_names, self.target_name, self.feature_ranges())

    @property
    def input_names(self) -> list[str]:
        """The table's columns the model reads (what ``/predict name=value`` takes)."""
        return self.plan.input_names if self.plan is not None else list(self.feature_names)

    def feature_ranges(self) -> list[tuple[float, float]]:
        """(min, max) of each input column."""
        return [(float(column.min()), float(column.max())) for column in self.features.T]

    def summary(self) -> dict[str, Any]:
        """What a training reply says about the table: rows, input columns (as the table names
        them), the column notes, and a ``/predict`` example for models of several inputs."""
        plan = self.column_plan
        return {
            "n_rows": self.n_rows,
            "feature_names": self.input_names,
            "columns": [note.to_dict() for note in self.notes],
            "predict_example": example(plan) if len(plan.inputs) > 1 else None,
            "task": self.task,
            "classes": self.classes,
            "task_inferred": self.task_inferred,
            "decimal": plan.decimal_mark,
        }


@dataclass
class Table:
    """Cells of an uploaded CSV as text, before any column is chosen."""

    cells: pd.DataFrame
    names: list[str]
    line_numbers: np.ndarray
    has_header: bool
    delimiter: str

    @property
    def decimal_comma(self) -> bool:
        """Whether the delimiter makes a comma the likely decimal mark (``;`` and tab files);
        each number column settles its own where its cells can."""
        return self.delimiter != ","

    @property
    def decimal_mark(self) -> str:
        return COMMA if self.decimal_comma else POINT

    @property
    def n_rows(self) -> int:
        """Number of data rows (header and blank lines excluded)."""
        return len(self.cells)


def read_dataset(
    data: bytes,
    *,
    x: Sequence[str] | None = None,
    y: str | None = None,
    sheet: str | None = None,
    limits: Limits = Limits(),  # noqa: B008 - frozen, so one shared default is safe
    task: str | None = None,
) -> Dataset:
    """Parse and validate an uploaded CSV or workbook into inputs ``x`` and target ``y``;
    ``task`` None infers regression or classification from the target (trainer.tables.task)."""
    table = read_table(data, limits=limits, sheet=sheet)
    target_name, candidates = choose_columns(table.names, x=x, y=y)
    columns = [table.cells[name] for name in (target_name, *candidates)]
    hint = table_mark(columns, fallback=table.decimal_mark)
    # Issue 20: a class target is read by trainer.tables.task; numbers as before.
    numbers = read_numbers(table.cells[target_name], hint)
    classes = None
    if wants_classes(numbers, task):
        try:
            read = read_classes(
                table.cells[target_name], target_name, numbers, limits, requested=task
            )
        except DatasetError:
            # Words alone that make no classes either (a list of names and cities).
            if not _has_any_number(table):
                raise DatasetError("This doesn't look like a table of numbers.") from None
            raise
        target, kept, notes = read.codes.astype(np.float64), read.kept, read.notes
        classes = read.classes
    else:
        # Classes may come from a table of words alone (a mushroom's colour and smell).
        if not _has_any_number(table):
            raise DatasetError("This doesn't look like a table of numbers.")
        target, kept, notes = _target(table, target_name, limits, hint, task)
    cells = {name: table.cells[name][kept].reset_index(drop=True) for name in candidates}
    lines = table.line_numbers[kept]
    parsed: dict[str, Any] = {}
    plan, column_notes = decide_columns(
        cells,
        candidates,
        target_name,
        explicit=bool(x),
        hint=hint,
        budget=limits.feature_budget(len(target)),
        line_numbers=lines,
        parsed=parsed,
    )
    try:
        encoded = plan.encode(cells, n_rows=len(target), decimal_comma=hint == COMMA, parsed=parsed)
    except CellError as error:  # decide_columns read every cell already; kept as a safety net
        raise DatasetError(cell_sentence(error, lines)) from None
    if classes is None and np.ptp(target) == 0:
        raise DatasetError(
            f'Every value in column "{target_name}" is {target[0]:g}, so there is nothing to learn.'
        )
    return Dataset(
        features=encoded.matrix,
        target=np.ascontiguousarray(target),
        feature_names=plan.feature_names,
        target_name=target_name,
        plan=plan,
        notes=notes + column_notes,
        task=REGRESSION if classes is None else CLASSIFICATION,
        classes=classes,
        task_inferred=task is None,
    )


def read_table(
    data: bytes,
    *,
    limits: Limits = Limits(),  # noqa: B008
    min_columns: int = 2,
    sheet: str | None = None,
) -> Table:
    """Split an uploaded CSV (or a workbook's sheet) into named text columns, checking size,
    encoding and shape."""
    if not data.strip():
        raise DatasetError("The file is empty.")
    check_upload_size(len(data), limits)
    data = archives.unpack(data, limits)
    if not data.strip():
        raise DatasetError("The file is empty.")
    if workbook.is_zip(data):
        raw, line_numbers = workbook.read_sheet(data, sheet=sheet, limits=limits)
        if raw.shape[1] < min_columns:
            raise DatasetError(ONE_COLUMN)
        return _table(raw, line_numbers, ",", limits)
    raw, line_numbers, delimiter = read_csv_cells(data, limits=limits, min_columns=min_columns)
    return _table(raw, line_numbers, delimiter, limits)


def _table(raw: pd.DataFrame, line_numbers: np.ndarray, delimiter: str, limits: Limits) -> Table:
    """Header or not, names, and the row cap: what CSVs and sheets share."""
    if raw.empty:
        raise DatasetError("The file is empty.")
    first = [str(cell).strip() for cell in raw.iloc[0]]
    has_header = any(not looks_like_data(cell) for cell in first)
    if has_header:
        names = _header_names(first)
        raw, line_numbers = raw.iloc[1:], line_numbers[1:]
    else:
        names = _default_names(raw.shape[1])
    if len(raw) > limits.max_rows:
        raise DatasetError(f"The table has more rows than the limit of {limits.max_rows:,}.")
    if raw.empty:
        raise DatasetError("The file has a header but no rows of data.")
    raw = raw.reset_index(drop=True)
    raw.columns = names
    return Table(
        cells=raw,
        names=names,
        line_numbers=np.asarray(line_numbers),
        has_header=has_header,
        delimiter=delimiter,
    )


def cell_sentence(error: CellError, line_numbers: np.ndarray) -> str:
    """A CellError as the sentence about a file: column, row number in the file, the cell."""
    line = line_numbers[error.row]
    if error.kind == "missing":
        return f'Column "{error.column}" is empty in row {line}, and this model has no fill for it.'
    if error.kind == "finite":
        return f'Column "{error.column}" has an infinite value in row {line}.'
    what = "a date" if error.kind == "date" else "a number"
    return (
        f'Column "{error.column}" has a value that is not {what} in row {line}: '
        f'"{clip(error.cell)}".'
    )


def check_upload_size(size: int, limits: Limits = Limits()) -> None:  # noqa: B008
    """Refuse an upload of ``size`` bytes over the limit, before reading or parsing it."""
    if size > limits.max_upload_bytes:
        raise DatasetError(
            f"The file is {words.size(size)}, over the {words.size(limits.max_upload_bytes)} limit."
        )


def _target(
    table: Table, name: str, limits: Limits, hint: str, task: str | None = None
) -> tuple[np.ndarray, np.ndarray, list[ColumnNote]]:
    """The target's numbers, the rows that have one, and a note on the rows dropped."""
    numbers = read_numbers(table.cells[name], hint)
    present = numbers.present
    if numbers.bad.any():
        bad = np.flatnonzero(numbers.bad)
        cell = clip(table.cells[name].iloc[bad[0]])
        if bad.size <= (1 - MOSTLY) * present.sum():
            raise DatasetError(
                f'Column "{name}" has a value that is not a number in row '
                f'{table.line_numbers[bad[0]]}: "{cell}".'
            )
        raise DatasetError(class_words.text_for_regression(name, cell))
    infinite = np.flatnonzero(present & np.isinf(numbers.values))
    if infinite.size:
        raise DatasetError(
            f'Column "{name}" has an infinite value in row {table.line_numbers[infinite[0]]}.'
        )
    kept = np.flatnonzero(present)
    dropped = table.n_rows - kept.size
    if kept.size == 0:
        raise DatasetError(f'Column "{name}", the value to predict, has no values.')
    if kept.size < limits.min_rows:
        if dropped:
            raise DatasetError(
                f"Only {_rows(kept.size)} {'has' if kept.size == 1 else 'have'} a value in "
                f'column "{name}" ({dropped:,} empty); I need at least {limits.min_rows}.'
            )
        raise DatasetError(
            f"The table has only {_rows(kept.size)} of data; I need at least {limits.min_rows}."
        )
    notes = [ColumnNote(name, "target_dropped", {"rows": dropped})] if dropped else []
    said = reading_said(table.cells[name], numbers)
    if said:
        notes.append(ColumnNote(name, "number", said))
    return numbers.values[kept], kept, notes


def _header_names(cells: list[str]) -> list[str]:
    # Line breaks and tabs inside a header cell (spreadsheets allow them) become spaces.
    names = [" ".join(cell.split()) or f"column{i}" for i, cell in enumerate(cells, start=1)]
    seen: dict[str, str] = {}
    for name in names:
        key = name.casefold()
        if key in seen:
            raise DatasetError(
                f'Two columns are named "{shorten(name, 40)}"; please give each column its own '
                "name."
            )
        seen[key] = name
    # Names are shortened here, once, so storage, plots and messages never see a long one.
    taken: set[str] = set()
    return [unique_name(name, taken, MAX_NAME) for name in names]


def _default_names(width: int) -> list[str]:
    if width == 1:
        return ["x"]
    if width == 2:
        return ["x", "y"]
    return [f"x{i}" for i in range(1, width)] + ["y"]


def _has_any_number(table: Table) -> bool:
    head = table.cells.head(50).to_numpy().ravel()
    return any(is_number(str(cell)) for cell in head)


def _rows(count: int) -> str:
    return "1 row" if count == 1 else f"{count:,} rows"
