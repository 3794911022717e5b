"""Save a trained network as ``.keras`` bytes, load it back, and predict from numbers or a CSV."""

from __future__ import annotations

import csv
import io
import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainer.backend import load_keras
from trainer.dataset import DatasetError, input_columns, numeric_column, read_table
from trainer.fit import TrainResult, predict_scaled
from trainer.limits import Limits
from trainer.model import inference_function

# A value further than this share of the training range beyond its min or max gets a warning.
FAR_OUTSIDE = 0.1
# Spreadsheets run a cell as a formula when it starts with one of these.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class PredictError(ValueError):
    """Inputs that do not fit the model, worded for the person who sent them."""


@dataclass(frozen=True)
class Prediction:
    """One prediction: the inputs, the predicted target and a warning if it extrapolates."""

    values: tuple[float, ...]
    predicted: float
    warning: str | None = None

    @property
    def value(self) -> float:
        """The input, for one-input models."""
        return self.values[0]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return {"values": list(self.values), "predicted": self.predicted, "warning": self.warning}


def save_model_bytes(result: TrainResult) -> bytes:
    """The trained network as the bytes of a ``.keras`` file."""
    with tempfile.TemporaryDirectory(prefix="trainbot-") as folder:
        path = Path(folder) / "model.keras"
        result.model.save(path)
        return path.read_bytes()


def load_model_bytes(data: bytes) -> Any:
    """A Keras model from ``.keras`` file bytes (safe mode: no arbitrary code)."""
    keras = load_keras()
    with tempfile.TemporaryDirectory(prefix="trainbot-") as folder:
        path = Path(folder) / "model.keras"
        path.write_bytes(data)
        return keras.saving.load_model(path, compile=False, safe_mode=True)


class Predictor:
    """A loaded network with its scaling and column names; cheap to keep in a cache."""

    def __init__(
        self,
        model_bytes: bytes,
        scaling: dict[str, Any],
        feature_names: Sequence[str],
        target_name: str,
        feature_ranges: Sequence[Sequence[float]],
    ) -> None:
        self._init(
            inference_function(load_model_bytes(model_bytes)),
            scaling,
            feature_names,
            target_name,
            feature_ranges,
        )

    @classmethod
    def from_result(cls, result: TrainResult) -> Predictor:
        """A predictor for a just-trained network, without a save/load round trip."""
        predictor = cls.__new__(cls)
        predictor._init(
            inference_function(result.model),
            result.scaling,
            result.feature_names,
            result.target_name,
            result.feature_ranges,
        )
        return predictor

    def _init(
        self,
        network: Callable[[np.ndarray], np.ndarray],
        scaling: dict[str, Any],
        feature_names: Sequence[str],
        target_name: str,
        feature_ranges: Sequence[Sequence[float]],
    ) -> None:
        self._network = network
        self.scaling = scaling
        self.feature_names = list(feature_names)
        self.target_name = target_name
        self.feature_ranges = [(float(low), float(high)) for low, high in feature_ranges]

    @property
    def n_features(self) -> int:
        """How many input values one prediction needs."""
        return len(self.feature_names)

    def predict(
        self, values: Sequence[float] | Sequence[Sequence[float]] | np.ndarray
    ) -> list[Prediction]:
        """Predict for each row of inputs; a flat list is split into rows of ``n_features``."""
        rows = self._rows(values)
        predicted = predict_scaled(self._network, self.scaling, rows)
        return [
            Prediction(
                values=tuple(float(v) for v in row),
                predicted=float(target),
                warning=self._warning(row),
            )
            for row, target in zip(rows, predicted, strict=True)
        ]

    def predict_csv(self, data: bytes, limits: Limits = Limits()) -> bytes:  # noqa: B008
        """Read a CSV of inputs and return it with a prediction column and a warning column."""
        table = read_table(data, limits=limits, min_columns=1)
        columns = input_columns(table, self.feature_names)
        rows = np.column_stack([numeric_column(table, name) for name in columns])
        bad = ~np.isfinite(rows).all(axis=1)
        if bad.any():
            line = int(table.line_numbers[np.flatnonzero(bad)[0]])
            raise DatasetError(
                f"{int(bad.sum())} rows have a missing or infinite input (the first is row {line})."
            )
        predictions = self.predict(rows)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(
            [_neutralise(name) for name in table.names]
            + [f"{self.target_name}_predicted", "warning"]
        )
        for cells, prediction in zip(
            table.cells.itertuples(index=False, name=None), predictions, strict=True
        ):
            writer.writerow(
                [_neutralise(str(cell)) for cell in cells]
                + [f"{prediction.predicted:.10g}", prediction.warning or ""]
            )
        return out.getvalue().encode()

    def _rows(self, values: Sequence[float] | Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
        try:
            rows = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise PredictError("Predictions need numbers.") from None
        k = self.n_features
        if rows.ndim <= 1:
            rows = rows.reshape(-1)
            if rows.size % k:
                names = ", ".join(self.feature_names)
                raise PredictError(
                    f"This model needs {k} values per prediction ({names}); you gave {rows.size}."
                )
            rows = rows.reshape(-1, k)
        if rows.ndim != 2 or rows.shape[1] != k:
            raise PredictError(f"This model needs {k} values per prediction.")
        if not np.isfinite(rows).all():
            raise PredictError("Predictions need finite numbers, not NaN or infinity.")
        return rows

    def _warning(self, row: np.ndarray) -> str | None:
        parts = []
        for value, name, (low, high) in zip(
            row, self.feature_names, self.feature_ranges, strict=True
        ):
            span = high - low if high > low else max(abs(low), 1.0)
            if value < low - FAR_OUTSIDE * span or value > high + FAR_OUTSIDE * span:
                parts.append(
                    f"{name} = {value:g} is far outside the training range {low:g} to {high:g}"
                )
        if not parts:
            return None
        return "; ".join(parts) + ", so this prediction is a guess."


def _neutralise(cell: str) -> str:
    """Prefix text that a spreadsheet would run as a formula; numbers stay as they are."""
    if cell.startswith(_FORMULA_STARTS):
        try:
            if math.isfinite(float(cell.replace(",", "."))):
                return cell
        except ValueError:
            pass
        return "'" + cell
    return cell
