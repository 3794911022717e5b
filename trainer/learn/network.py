"""The network: a stack of Dense layers ending in one linear output, and its optimizer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from trainer.backend import backend_name, load_keras
from trainer.learn.recipes import Recipe


def build_model(n_features: int, recipe: Recipe) -> Any:
    """Dense(32) x3 with ReLU, then Dense(1): the tutorial's architecture by default."""
    keras = load_keras()
    inputs = keras.Input(shape=(n_features,), name="features")
    hidden = inputs
    for number, units in enumerate(recipe.hidden_layers, start=1):
        hidden = keras.layers.Dense(units, activation=recipe.activation, name=f"hidden_{number}")(
            hidden
        )
    output = keras.layers.Dense(1, name="prediction")(hidden)
    return keras.Model(inputs, output, name=f"regressor_{recipe.name}")


def make_optimizer(recipe: Recipe, total_steps: int | None) -> Any:
    """The recipe's optimizer, its learning rate decayed to zero over ``total_steps`` if asked.

    ``total_steps`` None keeps the rate a plain variable, for a callback to set per round; a
    recipe's weight decay is decoupled (AdamW's kind), which Keras offers on every optimizer.
    """
    keras = load_keras()
    rate: Any = recipe.learning_rate
    if recipe.lr_decay == "cosine" and total_steps is not None:
        rate = keras.optimizers.schedules.CosineDecay(recipe.learning_rate, max(1, total_steps))
    decay = recipe.weight_decay or None
    if recipe.optimizer == "adam":
        if decay:
            return keras.optimizers.AdamW(rate, beta_2=recipe.adam_beta_2, weight_decay=decay)
        return keras.optimizers.Adam(rate, beta_2=recipe.adam_beta_2)
    if recipe.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(rate, weight_decay=decay)
    if recipe.optimizer == "sgd":
        return keras.optimizers.SGD(rate, momentum=0.9, weight_decay=decay)
    raise ValueError(f"unknown optimizer {recipe.optimizer!r}")


def compile_model(
    model: Any,
    recipe: Recipe,
    *,
    total_steps: int | None,
    steps_per_execution: int,
    loss: Any = None,
    target_width: int = 1,
) -> None:
    """Attach optimizer and loss; many steps per execution cut per-step overhead.

    ``loss`` overrides the recipe's (stacked members pack targets and masks, ``target_width``
    columns of them); ``total_steps`` None leaves the learning rate for a callback to set.
    """
    optimizer = make_optimizer(recipe, total_steps)
    if recipe.weight_decay:
        # Decay pulls kernels towards zero (for members: no correction to their line); biases
        # stay free.
        optimizer.exclude_from_weight_decay(var_names=["bias"])
    model.compile(
        optimizer=optimizer,
        loss=loss if loss is not None else recipe.loss,
        steps_per_execution=steps_per_execution,
        jit_compile=_jit_compile(recipe),
    )
    # Creating the optimizer's slots eagerly is much cheaper than inside TF's graph tracing.
    model.optimizer.build(model.trainable_variables)
    # Building the loss now spares fit() its first-call symbolic build, which on JAX takes a
    # batch from the shuffled data and so used up a permutation: the first fit of a network
    # then shuffled differently from every later fit of it with the same seed.
    sample = np.zeros((1, *model.input_shape[1:]), dtype=np.float32)
    target = np.zeros((1, target_width), dtype=np.float32)
    model.compute_loss(x=sample, y=target, y_pred=model(sample))


def _jit_compile(recipe: Recipe) -> bool | str:
    if recipe.jit_compile == "jax-only":
        return backend_name() == "jax"
    return recipe.jit_compile


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
    from trainer.model_file.standalone import NumpyRegressor

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
