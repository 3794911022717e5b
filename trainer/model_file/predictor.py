"""Save a trained network as ``.keras`` bytes, load it back, and predict from raw inputs or a
table of them (CSV or .xlsx).

The model's ColumnPlan (stored in ``scaling["columns"]``) turns raw inputs into the network's
features, exactly as in training; models stored before plans existed get the plain numeric
plan. Warnings name raw columns: a number or date far outside its training range, an input
that was filled, a category never seen in training.
"""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trainer.backend import load_keras
from trainer.errors import DatasetError, PredictError
from trainer.learn.network import inference_function
from trainer.learn.single import TrainResult, predict_scaled
from trainer.limits import Limits
from trainer.tables.columns import CATEGORY, DATE, NUMBER, CellError, Column, ColumnPlan, Encoded
from trainer.tables.dataset import Table, cell_sentence, input_cells, read_table
from trainer.tables.inputs import cells_of, rows_of

__all__ = ["PredictError", "Prediction", "PredictionTable", "Predictor"]

# A value further than this share of the training range beyond its min or max gets a warning.
FAR_OUTSIDE = 0.1
# Telegram refuses files over 50 MB from a bot; a table of predictions stays under it.
MAX_OUTPUT_BYTES = 50_000_000
# The warning cell of a row names at most this many inputs (the caption explains each once).
MAX_TAGS = 3
# Spreadsheets run a cell as a formula when it starts with one of these.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Prediction:
    """One prediction: the inputs, the predicted target and a warning if it extrapolates."""

    values: tuple[float, ...]  # the features the network saw
    predicted: float
    warning: str | None = None
    inputs: tuple[float | str, ...] = ()  # the raw inputs as used (numbers, text, dates)
    names: tuple[str, ...] = ()  # the columns of `inputs`, as the training table named them

    @property
    def value(self) -> float:
        """The input, for one-input models."""
        return self.values[0]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return {
            "values": list(self.values),
            "inputs": list(self.inputs or self.values),
            "names": list(self.names),
            "predicted": self.predicted,
            "warning": self.warning,
        }


@dataclass(frozen=True)
class PredictionTable:
    """A table of inputs with a prediction and a warning column, and notes said once per column."""

    data: bytes  # CSV, UTF-8
    rows: int
    notes: list[str] = field(default_factory=list)


# A member of the .keras zip that Keras ignores: what trainbot needs to read raw inputs.
MODEL_INFO = "trainbot.json"


def save_model_bytes(result: TrainResult, plan: ColumnPlan | None = None) -> bytes:
    """The trained model as the bytes of a ``.keras`` file that describes itself.

    Keras loads it as it is; ``trainbot.json`` inside says which columns it reads and how
    (the column ``plan``), so ``trainbot predict model.keras new.csv`` needs nothing else.
    """
    scaling = dict(result.scaling)
    if plan is not None:
        scaling["columns"] = plan.to_dict()
    info = {
        "feature_names": list(result.feature_names),
        "target_name": result.target_name,
        "feature_ranges": [[float(low), float(high)] for low, high in result.feature_ranges],
        "scaling": scaling,
        "model_kind": result.model_kind,
    }
    with tempfile.TemporaryDirectory(prefix="trainbot-") as folder:
        path = Path(folder) / "model.keras"
        result.model.save(path)
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr(MODEL_INFO, json.dumps(info, default=float))
        return path.read_bytes()


def model_file_info(data: bytes) -> dict[str, Any]:
    """What ``save_model_bytes`` wrote about the model, or a PredictError saying why not."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            info = json.loads(archive.read(MODEL_INFO))
    except KeyError:
        raise PredictError("This .keras file was not made by trainbot.") from None
    except (zipfile.BadZipFile, ValueError, OSError):
        raise PredictError("This is not a .keras model file.") from None
    if not isinstance(info, dict) or not {"feature_names", "target_name", "scaling"} <= set(info):
        raise PredictError("This .keras file was not made by trainbot.")
    return info


def load_model_bytes(data: bytes) -> Any:
    """A Keras model from ``.keras`` file bytes (safe mode: no arbitrary code)."""
    keras = load_keras()
    with tempfile.TemporaryDirectory(prefix="trainbot-") as folder:
        path = Path(folder) / "model.keras"
        path.write_bytes(data)
        return keras.saving.load_model(path, compile=False, safe_mode=True)


class Predictor:
    """A loaded network with its scaling, column plan and names; cheap to keep in a cache."""

    def __init__(
        self,
        model_bytes: bytes,
        scaling: dict[str, Any],
        feature_names: Sequence[str],
        target_name: str,
        feature_ranges: Sequence[Sequence[float]],
    ) -> None:
        plan = ColumnPlan.of_model(scaling, feature_names, target_name, feature_ranges)
        self._init(
            inference_function(load_model_bytes(model_bytes)),
            scaling,
            feature_names,
            target_name,
            plan,
        )

    @classmethod
    def from_model_file(cls, data: bytes) -> Predictor:
        """A predictor for a ``.keras`` file made by ``save_model_bytes``."""
        info = model_file_info(data)
        return cls(
            data,
            info["scaling"],
            info["feature_names"],
            info["target_name"],
            info.get("feature_ranges") or [],
        )

    @classmethod
    def from_result(cls, result: TrainResult, plan: ColumnPlan | None = None) -> Predictor:
        """A predictor for a just-trained network, without a save/load round trip.

        With the Dataset's ``plan``, ``scaling`` gains it under ``"columns"``: store that dict
        with the model and a predictor loaded later reads raw inputs the same way.
        """
        predictor = cls.__new__(cls)
        scaling = dict(result.scaling)
        if plan is not None:
            scaling["columns"] = plan.to_dict()
        else:
            plan = ColumnPlan.numeric(
                result.feature_names, result.target_name, result.feature_ranges
            )
        predictor._init(
            inference_function(result.model),
            scaling,
            result.feature_names,
            result.target_name,
            plan,
        )
        return predictor

    def _init(
        self,
        network: Callable[[np.ndarray], np.ndarray],
        scaling: dict[str, Any],
        feature_names: Sequence[str],
        target_name: str,
        plan: ColumnPlan,
    ) -> None:
        if len(plan.feature_names) != len(feature_names):
            raise ValueError("the column plan does not match the model's features")
        self._network = network
        self.scaling = scaling
        self.feature_names = list(feature_names)
        self.target_name = target_name
        self.plan = plan

    @property
    def n_features(self) -> int:
        """How many numbers the network takes per prediction."""
        return len(self.feature_names)

    @property
    def input_names(self) -> list[str]:
        """The raw columns a prediction takes (what ``/predict name=value`` names)."""
        return self.plan.input_names

    @property
    def feature_ranges(self) -> list[tuple[float, float]]:
        """(min, max) in training of each raw number or date input (dates as year fractions)."""
        return [
            (float(c.low), float(c.high))
            for c in self.plan.inputs
            if c.low is not None and c.high is not None
        ]

    def predict(self, values: Any) -> list[Prediction]:
        """Predict for rows of raw inputs: ``{name: value}`` rows, rows in input order, or a
        flat list of values (split into rows of the input count)."""
        if self.plan.plain and not _has_mappings(values):
            # Plain numbers are the features already: no text round trip on the /predict path.
            matrix = self._plain_rows(values)
            names = self.input_names
            encoded = Encoded(
                matrix,
                values={name: matrix[:, i] for i, name in enumerate(names)},
                filled={name: np.zeros(len(matrix), dtype=bool) for name in names},
            )
        else:
            rows = rows_of(values, self.plan)
            try:
                encoded = self.plan.encode(cells_of(rows, self.plan), n_rows=len(rows))
            except CellError as error:
                raise PredictError(str(error)) from None
        predicted = predict_scaled(self._network, self.scaling, encoded.matrix)
        return [
            Prediction(
                values=tuple(float(v) for v in encoded.matrix[i]),
                predicted=float(target),
                warning=self._warning(encoded, i),
                inputs=self.plan.shown_inputs(encoded, i),
                names=tuple(self.input_names),
            )
            for i, target in enumerate(predicted)
        ]

    def predict_table(self, data: bytes, limits: Limits = Limits()) -> PredictionTable:  # noqa: B008
        """A CSV or .xlsx of inputs back as a CSV with a prediction and a warning column.

        Extra columns are kept as they are; missing inputs are filled as in training and named
        in the notes. Raises DatasetError when the result would be too big to send.
        """
        table = read_table(data, limits=limits, min_columns=1)
        cells, absent = input_cells(table, self.plan)
        try:
            encoded = self.plan.encode(
                cells, n_rows=table.n_rows, decimal_comma=table.decimal_comma
            )
        except CellError as error:
            raise DatasetError(cell_sentence(error, table.line_numbers)) from None
        predicted = predict_scaled(self._network, self.scaling, encoded.matrix)
        tags, notes = self._table_warnings(encoded, absent=set(absent))
        out = _output_frame(table, predicted, tags, self.target_name)
        # From the cells, not the upload: an .xlsx is compressed, its CSV is not.
        estimate = int(table.cells.apply(lambda cells: cells.str.len().sum() + len(cells)).sum())
        estimate += table.n_rows * 24 + sum(len(tag) for tag in tags)
        if estimate > MAX_OUTPUT_BYTES:
            raise DatasetError(_too_big(estimate))
        text = out.to_csv(index=False, lineterminator="\n").encode()
        if len(text) > MAX_OUTPUT_BYTES:
            raise DatasetError(_too_big(len(text)))
        return PredictionTable(text, table.n_rows, notes)

    def predict_csv(self, data: bytes, limits: Limits = Limits()) -> bytes:  # noqa: B008
        """``predict_table`` without the notes: the CSV bytes."""
        return self.predict_table(data, limits).data

    # -- warnings ------------------------------------------------------------------------

    def _outside(self, column: Column, encoded: Encoded) -> np.ndarray:
        if column.role not in (NUMBER, DATE) or column.low is None or column.high is None:
            return np.zeros(len(encoded.matrix), dtype=bool)
        low, high = column.low, column.high
        span = high - low if high > low else max(abs(low), 1.0)
        values = encoded.values[column.name]
        return (values < low - FAR_OUTSIDE * span) | (values > high + FAR_OUTSIDE * span)

    def _warning(self, encoded: Encoded, row: int) -> str | None:
        far, notes = [], []
        for column in self.plan.inputs:
            name = column.name
            if self._outside(column, encoded)[row]:
                value = column.value_text(float(encoded.values[name][row]))
                far.append(
                    f"{name} = {value} is far outside the training range "
                    f"{column.value_text(column.low)} to {column.value_text(column.high)}"  # type: ignore[arg-type]
                )
            if encoded.filled[name][row]:
                notes.append(f"{name} was not given, so {_fill_words(column)}.")
            if column.role == CATEGORY and encoded.unseen[name][row]:
                cell = encoded.cells[name].iloc[row].strip()[:40]
                counted = "as other" if column.other else "as none of the known values"
                notes.append(
                    f'{name} "{cell}" was not in the training data, so it counts {counted}.'
                )
        sentences = (["; ".join(far) + ", so this prediction is a guess."] if far else []) + notes
        return " ".join(sentences) or None

    def _table_warnings(self, encoded: Encoded, absent: set[str]) -> tuple[list[str], list[str]]:
        """A short tag per row (at most MAX_TAGS inputs named) and one note per column."""
        n_rows = len(encoded.matrix)
        tags: list[list[str]] = [[] for _ in range(n_rows)]
        notes: list[str] = []
        for column in self.plan.inputs:
            name = column.name
            outside = self._outside(column, encoded)
            if outside.any():
                notes.append(
                    f"{name}: {_rows(int(outside.sum()))} far outside the training range "
                    f"{column.value_text(column.low)} to {column.value_text(column.high)}, "  # type: ignore[arg-type]
                    "so those predictions are guesses"
                )
                _tag(tags, outside, f"{name}: far outside")
            filled = encoded.filled[name]
            if name in absent:
                notes.append(f"{name}: not in the file, so in every row {_fill_words(column)}")
            elif filled.any():
                notes.append(
                    f"{name}: {_rows(int(filled.sum()), 'empty cell')}, so {_fill_words(column)}"
                )
                _tag(tags, filled, f"{name}: filled")
            if column.role == CATEGORY and encoded.unseen[name].any():
                unseen = encoded.unseen[name]
                example = encoded.cells[name][unseen].iloc[0].strip()[:40]
                counted = "as other" if column.other else "as none of the known values"
                notes.append(
                    f"{name}: {_rows(int(unseen.sum()))} with values not seen in training "
                    f'(like "{example}"), counted {counted}'
                )
                _tag(tags, unseen, f"{name}: new value")
        shown = [
            "; ".join(row[:MAX_TAGS])
            + (f" and {len(row) - MAX_TAGS} more" if len(row) > MAX_TAGS else "")
            for row in tags
        ]
        return shown, notes

    def _plain_rows(self, values: Any) -> np.ndarray:
        try:
            rows = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise PredictError("Predictions need numbers.") from None
        k = len(self.input_names)
        if rows.ndim <= 1:
            rows = rows.reshape(-1)
            if rows.size % k or rows.size == 0:
                names = ", ".join(self.input_names)
                raise PredictError(
                    f"This model needs {k} values per prediction ({names}); you gave {rows.size}."
                )
            rows = rows.reshape(-1, k)
        if rows.ndim != 2 or rows.shape[1] != k:
            raise PredictError(f"This model needs {k} values per prediction.")
        if not np.isfinite(rows).all():
            raise PredictError("Predictions need finite numbers, not NaN or infinity.")
        return rows


def _has_mappings(values: Any) -> bool:
    return isinstance(values, list | tuple) and any(isinstance(row, dict) for row in values)


def _fill_words(column: Column) -> str:
    """What an empty input becomes, as the end of "x was not given, so ..."."""
    if column.role == CATEGORY:
        if column.missing_level:
            return 'it counts as "missing", like the empty cells in training'
        return "it counts as none of the known values"
    middle = "median" if column.role == NUMBER else "middle date"
    return f"I used {column.fill_text()}, the training {middle}"


def _tag(tags: list[list[str]], mask: np.ndarray, tag: str) -> None:
    for row in np.flatnonzero(mask):
        tags[row].append(tag)


def _output_frame(
    table: Table, predicted: np.ndarray, tags: list[str], target_name: str
) -> pd.DataFrame:
    """The table's cells, the predictions and the warnings, every text cell defused."""
    out = pd.DataFrame({f"c{i}": table.cells[name] for i, name in enumerate(table.names)})
    out[f"c{len(table.names)}"] = [f"{value:.10g}" for value in predicted]
    out[f"c{len(table.names) + 1}"] = tags
    out.columns = [
        _neutralise(name) for name in [*table.names, f"{target_name}_predicted", "warning"]
    ]
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


def _rows(count: int, what: str = "row") -> str:
    return f"1 {what}" if count == 1 else f"{count:,} {what}s"


def _too_big(size: int) -> str:
    return (
        f"The predictions would make a file of about {size / 1_000_000:.0f} MB, over the "
        f"{MAX_OUTPUT_BYTES // 1_000_000} MB Telegram lets me send; please split the inputs "
        "into smaller files."
    )
