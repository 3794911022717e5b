"""The model a chat gets, as a plain Keras model that works with Keras alone.

Inputs go in and predictions come out in the table's own units: standardisation is a
``Normalization`` layer and the target's scale a ``Rescaling`` layer, so a downloaded
``.keras`` file needs no JSON beside it. The averaged members are parallel branches of
ordinary ``Dense`` layers; their linear paths average to a single ``Dense`` ("line"). A
piecewise-linear encoding of the inputs (trainer.learn.encoding), when the members had one, is
a fixed ``Dense`` ("piecewise_linear") and ``ReLU(max_value=1)``, concatenated to the
standardised inputs before the members' first layers.

``trainer.model_file.inference`` reads such a model back into numpy for fast predictions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from trainer.backend import load_keras

if TYPE_CHECKING:
    from trainer.learn.encoding import PiecewiseLinear
    from trainer.learn.stacked import MemberWeights


def standalone_model(
    weights: MemberWeights | None,
    line: tuple[np.ndarray, float],
    scaling: dict[str, Any],
    *,
    feature_names: Sequence[str],
    target_name: str,
    encoding: PiecewiseLinear | None = None,
) -> Any:
    """A Keras model of raw inputs: the line plus the average of the members' MLPs.

    ``weights`` None gives the line alone (one Dense layer). ``line`` is (coefficients,
    intercept) in standardised units: for members, the average of their linear paths, which
    is exactly what averaging the members' lines gives.
    """
    keras = load_keras()
    n_features = len(feature_names)
    inputs = keras.Input(shape=(n_features,), name="features")
    x_std = np.asarray(scaling["x_std"], dtype=np.float64)
    standardised = keras.layers.Normalization(
        mean=np.asarray(scaling["x_mean"], dtype=np.float64).tolist(),
        variance=(x_std**2).tolist(),
        name="standardise",
    )(inputs)
    line_layer = keras.layers.Dense(1, name="line")
    outputs = line_layer(standardised)
    branches = []
    seen = standardised
    if weights is not None and encoding is not None:
        encoded = keras.layers.Dense(encoding.width, name="piecewise_linear", trainable=False)(
            standardised
        )
        clipped = keras.layers.ReLU(max_value=1.0, name="piecewise_linear_clip")(encoded)
        seen = keras.layers.Concatenate(name="with_piecewise_linear")([standardised, clipped])
    if weights is not None:
        for member in range(weights.members):
            hidden = seen
            for number, (kernel, _) in enumerate(weights.hidden, start=1):
                hidden = keras.layers.Dense(
                    kernel.shape[-1], activation="relu", name=f"member{member}_hidden{number}"
                )(hidden)
            branches.append(keras.layers.Dense(1, name=f"member{member}_output")(hidden))
        average = (
            branches[0] if len(branches) == 1 else keras.layers.Average(name="average")(branches)
        )
        outputs = keras.layers.Add(name="line_plus_network")([outputs, average])
    outputs = keras.layers.Rescaling(
        scale=float(scaling["y_std"]), offset=float(scaling["y_mean"]), name="unstandardise"
    )(outputs)
    model = keras.Model(inputs, outputs, name=_model_name(target_name))
    coefficients, intercept = line
    line_layer.set_weights(
        [np.asarray(coefficients, np.float32).reshape(-1, 1), np.array([intercept], np.float32)]
    )
    if weights is not None and encoding is not None:
        kernel, bias = encoding.dense()
        model.get_layer("piecewise_linear").set_weights(
            [kernel.astype(np.float32), bias.astype(np.float32)]
        )
    if weights is not None:
        for member in range(weights.members):
            for number, (kernel, bias) in enumerate(weights.hidden, start=1):
                model.get_layer(f"member{member}_hidden{number}").set_weights(
                    [kernel[member], bias[member]]
                )
            kernel, bias = weights.output
            model.get_layer(f"member{member}_output").set_weights([kernel[member], bias[member]])
    return model


def _model_name(target_name: str) -> str:
    safe = "".join(c if c.isalnum() else "_" for c in target_name)[:40].strip("_")
    return f"predict_{safe or 'target'}"
