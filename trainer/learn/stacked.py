"""Many small networks trained as one Keras program, their weights stacked on a member axis.

Each member is the tutorial's Dense 32-32-32-1 ReLU network plus a linear path beside it:
``y_m(x) = linear_m(x) + mlp_m(x)``. The linear path starts at (and stays) the ridge solution
of that member's training rows and the MLP's output layer starts at zero, so every member
starts as the best straight line and its MLP only learns what the line leaves over.

Each table's members see that table's mini-batches (trainer.learn.stream), and a weight per
row says which rows are a member's own: members of a cross-validation each leave out one fold.
Several chats' tables train side by side, each with its own rows, order and loss, computed per
member exactly as alone. One compiled step trains all members at once, which on a CPU costs
little more than one member, since networks this small are bound by per-step overhead.

This module imports Keras; the bot must never import it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from trainer.backend import load_keras

keras = load_keras()
ops = keras.ops
# Whether StackedDense adds its bias inside the matmul (see its call): on JAX only.
_BIAS_IN_MATMUL = keras.backend.backend() == "jax"


@keras.saving.register_keras_serializable(package="trainbot")
class StackedDense(keras.layers.Layer):
    """``members`` Dense layers side by side: (batch, in) or (members, batch, in) in,
    (members, batch, units) out.

    A rank-2 input is shared by every member (one table); a rank-3 input gives each member
    rows of its own (several tables trained together).
    """

    def __init__(
        self,
        members: int,
        units: int,
        activation: str | None = None,
        zero_init: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.members = members
        self.units = units
        self.activation = keras.activations.get(activation)
        self.zero_init = zero_init

    def build(self, input_shape: Sequence[int | None]) -> None:
        fan_in = int(input_shape[-1])
        # Glorot per member: Keras' own GlorotUniform would count the member axis as a
        # receptive field and make every kernel too small.
        limit = float(np.sqrt(6.0 / (fan_in + self.units)))
        initializer = "zeros" if self.zero_init else keras.initializers.RandomUniform(-limit, limit)
        self.kernel = self.add_weight(
            name="kernel", shape=(self.members, fan_in, self.units), initializer=initializer
        )
        self.bias = self.add_weight(
            name="bias", shape=(self.members, self.units), initializer="zeros"
        )

    def call(self, inputs: Any) -> Any:
        # Batched matmuls in (members, batch, units) layout: TensorFlow's einsum for the same
        # contraction transposed on every step and made a step about twice as slow.
        if len(inputs.shape) == 2:
            inputs = inputs[None]
        if not _BIAS_IN_MATMUL:
            return self.activation(ops.matmul(inputs, self.kernel) + self.bias[:, None, :])
        # On JAX the bias rides in the matmul, a row of the kernel against a column of ones.
        # Added after it, its gradient was a sum over the batch that XLA orders by the number
        # of members: a table's members then trained a few ULPs differently beside other
        # tables', and early stopping turned that into another network. A matmul's gradient is
        # the same per member. (TensorFlow's sum is; there the concatenations cost a 100,000-row
        # fit a third more time.)
        ones = ops.ones_like(inputs[..., :1])
        kernel = ops.concatenate([self.kernel, self.bias[:, None, :]], axis=1)
        return self.activation(ops.matmul(ops.concatenate([inputs, ones], axis=-1), kernel))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "members": self.members,
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "zero_init": self.zero_init,
        }


def build_members(
    n_features: int, hidden_layers: Sequence[int], member_tasks: Sequence[int]
) -> Any:
    """The stacked model: inputs (batch, tasks, features) -> (batch, members).

    ``member_tasks`` names each member's task (table): member m reads the rows of table
    ``member_tasks[m]``. One table or several take the same path, so a table's members compute
    alike alone and beside other tables.
    """
    tasks = max(member_tasks) + 1
    members = len(member_tasks)
    inputs = keras.Input(shape=(tasks, n_features), name="features")
    # Inside, the member axis leads: (members, batch, units).
    by_task = ops.transpose(inputs, (1, 0, 2))
    features = ops.take(by_task, np.asarray(member_tasks, np.int32), axis=0)
    linear = StackedDense(members, 1, name="linear", trainable=False)(features)
    hidden = features
    for number, units in enumerate(hidden_layers, start=1):
        hidden = StackedDense(members, units, "relu", name=f"hidden_{number}")(hidden)
    residual = StackedDense(members, 1, zero_init=True, name="prediction")(hidden)
    outputs = ops.transpose(ops.squeeze(linear + residual, axis=-1))
    return keras.Model(inputs, outputs, name=f"stacked_{members}")


def masked_mse(y_true: Any, y_pred: Any) -> Any:
    """Each member's weighted squared error on its rows: ``y_true`` packs targets and weights.

    ``y_true`` is (batch, 2 * members): each member's target, then its weight on the row:
    1 / (its table's members) where the row is one of its training rows, 0 elsewhere
    (held-out rows, padding, another table's rows). A table's loss is thus the mean of its own
    members' errors, the same alone as beside other tables (trainer.learn.stream).
    """
    members = ops.shape(y_pred)[-1]
    target, weight = y_true[:, :members], y_true[:, members:]
    return ops.sum(weight * ops.square(target - y_pred), axis=-1)


@dataclass
class MemberWeights:
    """One snapshot of every member's weights, as numpy arrays with the member axis first."""

    linear: tuple[np.ndarray, np.ndarray]
    hidden: list[tuple[np.ndarray, np.ndarray]]
    output: tuple[np.ndarray, np.ndarray]

    @classmethod
    def from_model(cls, model: Any) -> MemberWeights:
        layers = {layer.name: layer for layer in model.layers}
        hidden = []
        number = 1
        while f"hidden_{number}" in layers:
            kernel, bias = layers[f"hidden_{number}"].get_weights()
            hidden.append((kernel, bias))
            number += 1
        linear = tuple(layers["linear"].get_weights())
        output = tuple(layers["prediction"].get_weights())
        return cls(linear=linear, hidden=hidden, output=output)  # type: ignore[arg-type]

    @property
    def members(self) -> int:
        return int(self.linear[0].shape[0])

    @classmethod
    def concatenate(cls, parts: Sequence[MemberWeights]) -> MemberWeights:
        """Several sets of members as one, in order."""
        if len(parts) == 1:
            return parts[0]

        def joined(arrays: Sequence[np.ndarray]) -> np.ndarray:
            return np.concatenate(arrays, axis=0)

        return cls(
            linear=(joined([p.linear[0] for p in parts]), joined([p.linear[1] for p in parts])),
            hidden=[
                (joined([p.hidden[i][0] for p in parts]), joined([p.hidden[i][1] for p in parts]))
                for i in range(len(parts[0].hidden))
            ],
            output=(joined([p.output[0] for p in parts]), joined([p.output[1] for p in parts])),
        )

    def member(self, index: int) -> MemberWeights:
        """The weights of one member, still with a member axis of length 1."""
        return self.members_range(index, index + 1)

    def members_range(self, start: int, stop: int) -> MemberWeights:
        """Members ``start`` to ``stop - 1``, copied (a snapshot outlives later training)."""
        pick = slice(start, stop)
        return MemberWeights(
            linear=(self.linear[0][pick].copy(), self.linear[1][pick].copy()),
            hidden=[(kernel[pick].copy(), bias[pick].copy()) for kernel, bias in self.hidden],
            output=(self.output[0][pick].copy(), self.output[1][pick].copy()),
        )

    def predict(self, features: np.ndarray, *, residual: bool = True) -> np.ndarray:
        """(rows, members) outputs for rows shared by all members, in float64 numpy."""
        x = np.asarray(features, dtype=np.float64)
        line = np.einsum("bi,mi->bm", x, self.linear[0][..., 0]) + self.linear[1][:, 0]
        if not residual:
            return line
        hidden = np.broadcast_to(x, (self.members, *x.shape))
        for kernel, bias in self.hidden:
            hidden = np.maximum(np.einsum("mbi,miu->mbu", hidden, kernel) + bias[:, None], 0.0)
        out = np.einsum("mbi,mi->bm", hidden, self.output[0][..., 0]) + self.output[1][:, 0]
        return line + out

    def copy(self) -> MemberWeights:
        return MemberWeights(
            linear=(self.linear[0].copy(), self.linear[1].copy()),
            hidden=[(kernel.copy(), bias.copy()) for kernel, bias in self.hidden],
            output=(self.output[0].copy(), self.output[1].copy()),
        )
