"""Models as plain numpy for fast inference: the numpy twins of the Keras models trainbot makes.

Calling a Keras model on a new input shape compiles code on JAX (about 0.3 s each time); for
networks this small plain numpy is faster than any compiled call. ``NumpyRegressor`` reads a
standalone model (trainer.model_file.standalone), ``DenseStack`` a plain stack of Dense layers
such as the tutorial's network; ``inference_function`` picks whichever fits, else calls Keras.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from trainer.backend import load_keras


class NumpyRegressor:
    """A standalone model's layers as numpy arrays: raw inputs in, raw predictions out."""

    def __init__(
        self,
        mean: np.ndarray,
        std: np.ndarray,
        line: tuple[np.ndarray, np.ndarray],
        members: list[list[tuple[np.ndarray, np.ndarray]]],
        y_scale: float,
        y_offset: float,
    ) -> None:
        self.mean, self.std = mean, std
        self.line = line
        self.members = members
        self.y_scale, self.y_offset = y_scale, y_offset

    @classmethod
    def from_model(cls, model: Any) -> NumpyRegressor | None:
        """Read a model made by ``standalone_model``; None for any other model."""
        layers = {layer.name: layer for layer in model.layers}
        if not {"standardise", "line", "unstandardise"} <= layers.keys():
            return None
        config = layers["standardise"].get_config()
        mean = np.asarray(config["mean"], np.float64).reshape(-1)
        std = np.sqrt(np.asarray(config["variance"], np.float64).reshape(-1))
        kernel, bias = (np.asarray(w, np.float64) for w in layers["line"].get_weights())
        members = []
        member = 0
        while f"member{member}_output" in layers:
            stack = []
            number = 1
            while f"member{member}_hidden{number}" in layers:
                layer = layers[f"member{member}_hidden{number}"]
                stack.append(tuple(np.asarray(w, np.float64) for w in layer.get_weights()))
                number += 1
            output = layers[f"member{member}_output"].get_weights()
            stack.append(tuple(np.asarray(w, np.float64) for w in output))
            members.append(stack)
            member += 1
        rescale = layers["unstandardise"].get_config()
        return cls(
            mean, std, (kernel, bias), members, float(rescale["scale"]), float(rescale["offset"])
        )

    def __call__(self, features: np.ndarray) -> np.ndarray:
        """(rows, 1) predictions for rows of raw features."""
        x = (np.asarray(features, dtype=np.float64) - self.mean) / np.where(
            self.std > 0, self.std, 1.0
        )
        out = x @ self.line[0] + self.line[1]
        if self.members:
            total = np.zeros_like(out)
            for stack in self.members:
                hidden = x
                for kernel, bias in stack[:-1]:
                    hidden = np.maximum(hidden @ kernel + bias, 0.0)
                total += hidden @ stack[-1][0] + stack[-1][1]
            out = out + total / len(self.members)
        return out * self.y_scale + self.y_offset


# Activations numpy inference understands; anything else falls back to calling the model.
_ACTIVATIONS = {
    "linear": lambda z: z,
    "relu": lambda z: np.maximum(z, 0.0),
    "tanh": np.tanh,
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
}


class DenseStack:
    """A model's Dense layers as numpy arrays, for inference without Keras.

    Calling a Keras model on a new input shape compiles code on JAX (about 0.3 s each time);
    for these small networks plain numpy is faster than any compiled call.
    """

    def __init__(self, layers: list[tuple[np.ndarray, np.ndarray, str]]) -> None:
        self.layers = layers

    @classmethod
    def from_model(cls, model: Any) -> DenseStack | None:
        """Read the Dense layers of ``model``; None if it holds anything else."""
        layers = []
        for layer in model.layers:
            kind = type(layer).__name__
            if kind == "InputLayer":
                continue
            activation = getattr(layer, "activation", None)
            name = getattr(activation, "__name__", None)
            if kind != "Dense" or name not in _ACTIVATIONS or not layer.use_bias:
                return None
            kernel, bias = (np.asarray(weight, dtype=np.float64) for weight in layer.get_weights())
            layers.append((kernel, bias, name))
        return cls(layers)

    def __call__(self, features: np.ndarray) -> np.ndarray:
        """Outputs of the network for rows of (already scaled) features."""
        hidden = np.asarray(features, dtype=np.float64)
        for kernel, bias, activation in self.layers:
            hidden = _ACTIVATIONS[activation](hidden @ kernel + bias)
        return hidden


def inference_function(model: Any, chunk: int = 65_536) -> Callable[[np.ndarray], np.ndarray]:
    """A function from feature rows to outputs: numpy if possible, else the model.

    A default-recipe model takes raw rows (its scaling is inside); a plain Dense stack, such
    as the tutorial's network, takes rows scaled as its ``scaling`` says.
    """
    from trainer.model_file.classes import NumpyClassifier  # issue 20: a classifier's twin

    classifier = NumpyClassifier.from_model(model)
    if classifier is not None:
        return classifier
    regressor = NumpyRegressor.from_model(model)
    if regressor is not None:
        return regressor
    stack = DenseStack.from_model(model)
    if stack is not None:
        return stack
    keras = load_keras()

    def call(features: np.ndarray) -> np.ndarray:
        scaled = np.asarray(features, dtype=np.float32)
        parts = [
            keras.ops.convert_to_numpy(model(scaled[start : start + chunk], training=False))
            for start in range(0, len(scaled), chunk)
        ]
        return np.concatenate(parts) if parts else np.zeros((0, 1))

    return call


def predict_scaled(
    network: Callable[[np.ndarray], np.ndarray], scaling: dict[str, Any], features: np.ndarray
) -> np.ndarray:
    """Run ``network`` on raw features, standardising around it unless it does so itself.

    Models of the default recipe carry their scaling as layers (``in_model``); older ones and
    the tutorial's network get it applied here.
    """
    raw = np.asarray(features, dtype=np.float64)
    if raw.ndim == 1:
        raw = raw[:, None]
    if scaling.get("in_model"):
        return np.asarray(network(raw), dtype=np.float64).reshape(-1)
    scaled = (raw - np.asarray(scaling["x_mean"])) / np.asarray(scaling["x_std"])
    predicted = np.asarray(network(scaled), dtype=np.float64).reshape(-1)
    return predicted * scaling["y_std"] + scaling["y_mean"]
