"""The network: a stack of Dense layers ending in one linear output, and its optimizer."""

from __future__ import annotations

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
