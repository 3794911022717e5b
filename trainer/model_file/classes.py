"""A classifier as a plain Keras model (issue 20), its NumPy twin, and its answers.

The model takes raw inputs and gives each class's probability: a ``Normalization`` layer, the
logistic line (one ``Dense`` of a logit per class) plus the average of the members' MLPs, then
``Softmax``. Keras alone loads it; the ``.keras`` file's ``trainbot.json`` names the classes
in order (``scaling["classes"]``), so column i of the output is the probability of class i.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from trainer.backend import load_keras
from trainer.judge.classes import softmax

CLASSIFICATION = "classification"


def is_classifier(scaling: dict[str, Any] | None) -> bool:
    return bool(scaling) and scaling.get("task") == CLASSIFICATION and bool(scaling.get("classes"))


def classifier_model(
    members: tuple[list[tuple[np.ndarray, np.ndarray]], tuple[np.ndarray, np.ndarray]] | None,
    line: tuple[np.ndarray, np.ndarray],
    x_mean: np.ndarray,
    x_std: np.ndarray,
    *,
    target_name: str,
) -> Any:
    """Raw inputs in, class probabilities out. ``members`` (hidden layers, output layer, each
    with the member axis first) None gives the logistic line alone; ``line`` is (kernel
    (features, classes), bias (classes,)) in standardised units."""
    keras = load_keras()
    kernel, bias = (np.asarray(a, np.float32) for a in line)
    n_features, n_classes = kernel.shape
    inputs = keras.Input(shape=(n_features,), name="features")
    standardised = keras.layers.Normalization(
        mean=np.asarray(x_mean, np.float64).tolist(),
        variance=(np.asarray(x_std, np.float64) ** 2).tolist(),
        name="standardise",
    )(inputs)
    line_layer = keras.layers.Dense(n_classes, name="line")
    logits = line_layer(standardised)
    if members is not None:
        hidden_layers, output = members
        branches = []
        for member in range(output[0].shape[0]):
            hidden = standardised
            for number, (k, _) in enumerate(hidden_layers, start=1):
                hidden = keras.layers.Dense(
                    k.shape[-1], activation="relu", name=f"member{member}_hidden{number}"
                )(hidden)
            branches.append(keras.layers.Dense(n_classes, name=f"member{member}_output")(hidden))
        average = (
            branches[0] if len(branches) == 1 else keras.layers.Average(name="average")(branches)
        )
        logits = keras.layers.Add(name="line_plus_network")([logits, average])
    probabilities = keras.layers.Softmax(name="probabilities")(logits)
    safe = "".join(c if c.isalnum() else "_" for c in target_name)[:40].strip("_")
    model = keras.Model(inputs, probabilities, name=f"classify_{safe or 'target'}")
    line_layer.set_weights([kernel, bias])
    if members is not None:
        hidden_layers, output = members
        for member in range(output[0].shape[0]):
            for number, (k, b) in enumerate(hidden_layers, start=1):
                model.get_layer(f"member{member}_hidden{number}").set_weights(
                    [k[member], b[member]]
                )
            model.get_layer(f"member{member}_output").set_weights(
                [output[0][member], output[1][member]]
            )
    return model


class NumpyClassifier:
    """A classifier model's layers as NumPy arrays: raw inputs in, probabilities out."""

    def __init__(
        self,
        mean: np.ndarray,
        std: np.ndarray,
        line: tuple[np.ndarray, np.ndarray],
        members: list[list[tuple[np.ndarray, np.ndarray]]],
    ) -> None:
        self.mean, self.std, self.line, self.members = mean, std, line, members

    @classmethod
    def from_model(cls, model: Any) -> NumpyClassifier | None:
        layers = {layer.name: layer for layer in model.layers}
        if not {"standardise", "line", "probabilities"} <= layers.keys():
            return None
        config = layers["standardise"].get_config()
        mean = np.asarray(config["mean"], np.float64).reshape(-1)
        std = np.sqrt(np.asarray(config["variance"], np.float64).reshape(-1))

        def arrays(name: str) -> tuple[np.ndarray, np.ndarray]:
            kernel, bias = layers[name].get_weights()
            return np.asarray(kernel, np.float64), np.asarray(bias, np.float64)

        members = []
        member = 0
        while f"member{member}_output" in layers:
            stack, number = [], 1
            while f"member{member}_hidden{number}" in layers:
                stack.append(arrays(f"member{member}_hidden{number}"))
                number += 1
            stack.append(arrays(f"member{member}_output"))
            members.append(stack)
            member += 1
        return cls(mean, std, arrays("line"), members)

    def __call__(self, features: np.ndarray) -> np.ndarray:
        """(rows, classes) probabilities for rows of raw features."""
        x = (np.asarray(features, np.float64) - self.mean) / np.where(self.std > 0, self.std, 1.0)
        logits = x @ self.line[0] + self.line[1]
        if self.members:
            total = np.zeros_like(logits)
            for stack in self.members:
                hidden = x
                for kernel, bias in stack[:-1]:
                    hidden = np.maximum(hidden @ kernel + bias, 0.0)
                total += hidden @ stack[-1][0] + stack[-1][1]
            logits = logits + total / len(self.members)
        return softmax(logits)


def probabilities_of(model: Any, features: np.ndarray) -> np.ndarray:
    """Class probabilities of raw ``features`` from a classifier model (NumPy when it can)."""
    twin = NumpyClassifier.from_model(model)
    if twin is not None:
        return twin(features)
    keras = load_keras()
    return np.asarray(keras.ops.convert_to_numpy(model(np.asarray(features, np.float32))))


def top_classes(classes: Sequence[str], proba: np.ndarray) -> list[dict[str, float]]:
    """Per row, every class with its probability, most probable first."""
    out = []
    for row in np.asarray(proba, np.float64):
        order = np.argsort(-row, kind="stable")
        out.append({classes[i]: float(row[i]) for i in order})
    return out


def class_table(
    table: Any,
    proba: np.ndarray,
    classes: Sequence[str],
    tags: Sequence[Sequence[Any]],
    notes: list[Any],
    target_name: str,
) -> Any:
    """A table of inputs back as CSV with ``<target>_predicted`` (the most probable class as
    the training table wrote it), a ``P(<class>)`` column per class and the warnings."""
    import pandas as pd

    from trainer import words
    from trainer.errors import DatasetError
    from trainer.model_file import prediction_table as written

    shown = [words.row_tags(row) for row in tags]
    estimate = int(table.cells.apply(lambda cells: cells.str.len().sum() + len(cells)).sum())
    estimate += table.n_rows * (16 + 14 * len(classes)) + sum(len(tag) for tag in shown)
    if estimate > written.MAX_OUTPUT_BYTES:
        raise DatasetError(words.predictions_too_big(estimate, written.MAX_OUTPUT_BYTES))
    labels = [classes[i] for i in np.asarray(proba).argmax(axis=1)]
    out = pd.DataFrame({f"c{i}": table.cells[name] for i, name in enumerate(table.names)})
    out[f"c{len(out.columns)}"] = labels
    for column in np.asarray(proba, np.float64).T:
        out[f"c{len(out.columns)}"] = [f"{value:.6g}" for value in column]
    out[f"c{len(out.columns)}"] = shown
    added = [f"{target_name}_predicted", *(f"P({label})" for label in classes), "warning"]
    out.columns = [written._neutralise(name) for name in [*table.names, *added]]
    for position in [*range(len(table.names)), len(table.names), len(out.columns) - 1]:
        out.iloc[:, position] = written._neutralise_column(out.iloc[:, position].astype(str))
    text = out.to_csv(index=False, lineterminator="\n").encode()
    if len(text) > written.MAX_OUTPUT_BYTES:
        raise DatasetError(words.predictions_too_big(len(text), written.MAX_OUTPUT_BYTES))
    return written.PredictionTable(text, table.n_rows, notes)
