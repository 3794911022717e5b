"""Predicting from raw inputs, or from a table of them (CSV or .xlsx), with a trained model.

The model's ColumnPlan (stored in ``scaling["columns"]``) turns raw inputs into the network's
features, exactly as in training; models stored before plans existed get the plain numeric
plan. Each prediction carries its warnings as facts (trainer.model_file.warnings): a number or
date far outside its training range, an input that was filled, a category never seen in
training.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from trainer import words
from trainer.errors import DatasetError, PredictError
from trainer.judge.intervals import IntervalModel
from trainer.limits import Limits
from trainer.model_file.classes import class_table, is_classifier, top_classes
from trainer.model_file.inference import inference_function, predict_scaled
from trainer.model_file.keras_file import load_model_bytes, model_file_info
from trainer.model_file.prediction_table import PredictionTable, write_table
from trainer.model_file.warnings import InputWarning, row_warnings, table_warnings
from trainer.tables.columns import CellError, ColumnPlan, Encoded
from trainer.tables.dataset import cell_sentence, input_cells, read_table
from trainer.tables.inputs import cells_of, rows_of

if TYPE_CHECKING:
    from trainer.learn.fit import Fit


@dataclass(frozen=True)
class Prediction:
    """One prediction: the inputs, the predicted target and why it may be a guess."""

    values: tuple[float, ...]  # the features the network saw
    predicted: float
    warnings: tuple[InputWarning, ...] = ()
    inputs: tuple[float | str, ...] = ()  # the raw inputs as used (numbers, text, dates)
    names: tuple[str, ...] = ()  # the columns of `inputs`, as the training table named them
    # The 90 % prediction interval; None for a model without one (nothing was held out).
    low: float | None = None
    high: float | None = None
    # Issue 20, a classifier's answer: the most probable class as the table wrote it, and
    # every class's probability, most probable first (``predicted`` is the top probability).
    label: str | None = None
    probabilities: dict[str, float] | None = None

    @property
    def value(self) -> float:
        """The input, for one-input models."""
        return self.values[0]

    @property
    def warning(self) -> str | None:
        """The warnings in words, None when there are none."""
        return words.prediction_warning(self.warnings)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict, the warning in words (`trainbot train --json`)."""
        return {
            "values": list(self.values),
            "inputs": list(self.inputs or self.values),
            "names": list(self.names),
            "predicted": self.predicted,
            "low": self.low,
            "high": self.high,
            "warning": self.warning,
            **({"label": self.label, "probabilities": self.probabilities} if self.label else {}),
        }


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
    def from_result(cls, result: Fit, plan: ColumnPlan | None = None) -> Predictor:
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
        self.interval = IntervalModel.from_dict(scaling.get("interval"))
        # Issue 20: a classifier's classes, in the order of its outputs; None for a regressor.
        self.classes: list[str] | None = (
            list(scaling["classes"]) if is_classifier(scaling) else None
        )

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
        if self.classes is not None:  # issue 20: classes and their probabilities
            return self._class_predictions(encoded)
        predicted = predict_scaled(self._network, self.scaling, encoded.matrix)
        low, high = self.bounds(encoded.matrix, predicted)
        return [
            Prediction(
                values=tuple(float(v) for v in encoded.matrix[i]),
                predicted=float(target),
                warnings=row_warnings(self.plan, encoded, i),
                inputs=self.plan.shown_inputs(encoded, i),
                names=tuple(self.input_names),
                low=None if low is None else float(low[i]),
                high=None if high is None else float(high[i]),
            )
            for i, target in enumerate(predicted)
        ]

    def bounds(
        self, features: np.ndarray, predicted: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
        """The 90 % interval of each prediction, (None, None) when the model has none."""
        if self.interval is None:
            return None, None
        return self.interval.bounds(features, predicted)

    def predict_table(self, data: bytes, limits: Limits = Limits()) -> PredictionTable:  # noqa: B008
        """A CSV or .xlsx of inputs back as a CSV with a prediction and a warning column (and
        the 90 % interval's low and high beside the prediction, when the model has one).

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
        if self.classes is not None:  # issue 20: a class and a probability per class
            tags, notes = table_warnings(self.plan, encoded, absent=set(absent))
            proba = self.probabilities(encoded.matrix)
            return class_table(table, proba, self.classes, tags, notes, self.target_name)
        predicted = predict_scaled(self._network, self.scaling, encoded.matrix)
        low, high = self.bounds(encoded.matrix, predicted)
        interval = None if low is None or high is None else (low, high)
        tags, notes = table_warnings(self.plan, encoded, absent=set(absent))
        return write_table(table, predicted, tags, notes, self.target_name, interval)

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """A classifier's (rows, classes) probabilities for rows of features."""
        return np.asarray(self._network(np.asarray(features, np.float64)), np.float64)

    def _class_predictions(self, encoded: Encoded) -> list[Prediction]:
        assert self.classes is not None
        ranked = top_classes(self.classes, self.probabilities(encoded.matrix))
        return [
            Prediction(
                values=tuple(float(v) for v in encoded.matrix[i]),
                predicted=next(iter(row.values())),
                warnings=row_warnings(self.plan, encoded, i),
                inputs=self.plan.shown_inputs(encoded, i),
                names=tuple(self.input_names),
                label=next(iter(row)),
                probabilities=row,
            )
            for i, row in enumerate(ranked)
        ]

    def predict_csv(self, data: bytes, limits: Limits = Limits()) -> bytes:  # noqa: B008
        """``predict_table`` without the notes: the CSV bytes."""
        return self.predict_table(data, limits).data

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
