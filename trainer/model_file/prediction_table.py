"""A table of inputs written back as CSV with a prediction, its 90 % interval (``<target>_low``
and ``<target>_high``, when the model has one) and a warning column.

Every text cell is defused: a spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or
``@`` as a formula, so such cells (but numbers) get a leading quote. The file stays under what
Telegram lets a bot send: a CSV over ``ZIP_ABOVE_BYTES`` goes as a .zip of it (a table of
predictions is several times its input, and a 20 MB upload must get its answer).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from trainer import words
from trainer.errors import DatasetError
from trainer.model_file.warnings import InputWarning
from trainer.tables.dataset import Table

# Telegram refuses files over 50 MB from a bot; a table of predictions stays under it.
MAX_OUTPUT_BYTES = 50_000_000
# A CSV answer bigger than this is zipped: under Telegram's limit, and small for the database
# and for the bot, which holds a file while sending it. CSV text shrinks several times.
ZIP_ABOVE_BYTES = 10_000_000
# The most CSV text made before zipping (the worker's memory): 5x a 20 MB upload and more.
MAX_CSV_BYTES = 250_000_000
# Spreadsheets run a cell as a formula when it starts with one of these.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class PredictionTable:
    """A table of inputs with a prediction and a warning column, and notes said once per column."""

    data: bytes  # CSV, UTF-8; or a .zip holding it, when `csv_bytes` is set
    rows: int
    notes: list[InputWarning] = field(default_factory=list)
    csv_bytes: int | None = None  # the size of the CSV inside, when `data` is a zip of it

    @property
    def zipped(self) -> bool:
        return self.csv_bytes is not None

    def filename(self, stem: str) -> str:
        return f"{stem}.zip" if self.zipped else f"{stem}.csv"

    @property
    def content_type(self) -> str:
        return "application/zip" if self.zipped else "text/csv"


def write_table(
    table: Table,
    predicted: np.ndarray,
    tags: Sequence[Sequence[InputWarning]],
    notes: list[InputWarning],
    target_name: str,
    interval: tuple[np.ndarray, np.ndarray] | None = None,
) -> PredictionTable:
    """The CSV of ``table``'s cells, the predictions (with their ``interval``'s low and high
    when given) and each row's warning tags; raises DatasetError when it would be too big to
    send, even zipped."""
    shown = [words.row_tags(row) for row in tags]
    # Estimated from the cells, not the upload: an .xlsx is compressed, its CSV is not.
    estimate = int(table.cells.apply(lambda cells: cells.str.len().sum() + len(cells)).sum())
    estimate += table.n_rows * (24 if interval is None else 72) + sum(len(tag) for tag in shown)
    if estimate > MAX_CSV_BYTES:
        raise DatasetError(words.predictions_too_big(estimate, MAX_OUTPUT_BYTES))
    out = _output_frame(table, predicted, interval, shown, target_name)
    text = out.to_csv(index=False, lineterminator="\n").encode()
    del out
    if len(text) <= ZIP_ABOVE_BYTES:
        return PredictionTable(text, table.n_rows, notes)
    packed = zip_csv(text, "predictions.csv")
    if len(packed) > MAX_OUTPUT_BYTES:
        raise DatasetError(words.predictions_too_big(len(packed), MAX_OUTPUT_BYTES))
    return PredictionTable(packed, table.n_rows, notes, csv_bytes=len(text))


def zip_csv(text: bytes, name: str) -> bytes:
    """A .zip holding one CSV, as every phone and desktop opens."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        archive.writestr(name, text)
    return buffer.getvalue()


def _output_frame(
    table: Table,
    predicted: np.ndarray,
    interval: tuple[np.ndarray, np.ndarray] | None,
    tags: list[str],
    target_name: str,
) -> pd.DataFrame:
    """The table's cells, the predictions (and their intervals) and the warnings, every text
    cell defused."""
    out = pd.DataFrame({f"c{i}": table.cells[name] for i, name in enumerate(table.names)})
    added = {f"{target_name}_predicted": predicted}
    if interval is not None:
        added[f"{target_name}_low"], added[f"{target_name}_high"] = interval
    for number, values in enumerate(added.values(), start=len(table.names)):
        out[f"c{number}"] = [f"{value:.10g}" for value in values]
    out[f"c{len(out.columns)}"] = tags
    out.columns = [_neutralise(name) for name in [*table.names, *added, "warning"]]
    for position in range(len(table.names)):
        out.iloc[:, position] = _neutralise_column(out.iloc[:, position].astype(str))
    out.iloc[:, -1] = _neutralise_column(out.iloc[:, -1].astype(str))
    return out


def _neutralise(cell: str) -> str:
    """Prefix text that a spreadsheet would run as a formula; numbers stay as they are."""
    return str(_neutralise_column(pd.Series([cell], dtype=object)).iloc[0])


def _neutralise_column(cells: pd.Series) -> pd.Series:
    risky = cells.str.startswith(_FORMULA_STARTS).to_numpy()
    if not risky.any():
        return cells
    numbers = pd.to_numeric(cells[risky].str.replace(",", ".", regex=False), errors="coerce")
    formula = ~np.isfinite(numbers.to_numpy(dtype=np.float64))
    positions = np.flatnonzero(risky)[formula]
    cells = cells.copy()
    cells.iloc[positions] = "'" + cells.iloc[positions]
    return cells
