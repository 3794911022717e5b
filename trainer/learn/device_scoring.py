"""The members' pooled errors after a round, computed on the device the members train on.

After each round trainer.learn.rounds scores every task: it copies all members' weights to the
host and runs each member's network in float64 NumPy on its sampled held-out and training rows,
member by member. On a CPU that is a small share of a round; on a GPU, where a batch of
hundreds of tables costs the device little more than one, it is most of it, and it grows
with every table in the batch. Here the same rows, gathered once and kept on the device, are
scored for every member in one compiled call, and only a (row sets × tasks) array of pooled
errors comes back.

JAX only (the GPU backend); ``available()`` says whether it can be used. This module imports
Keras (through trainer.learn.rounds).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from trainer import backend
from trainer.learn.rounds import RoundMonitor
from trainer.learn.stacked import MemberWeights

if TYPE_CHECKING:
    from trainer.learn.members import MemberTask

# Per task, per member: the row numbers it is scored on.
RowsByTask = Sequence[Sequence[np.ndarray]]
# Layers of the stacked model (trainer.learn.stacked.build_members), input to output.
LINEAR, OUTPUT = "linear", "prediction"


def available() -> bool:
    return backend.backend_name() == "jax"


class DeviceScorer:
    """Pooled mean squared errors of each task's members on given rows, in one call.

    ``row_sets[k][t][m]`` are the rows of task ``t`` that member ``m`` is scored on in set
    ``k`` (e.g. held-out rows, then a sample of training rows): the same rows that
    rounds._pooled scores. Calling the scorer with the stacked model gives a (sets, tasks)
    array; NaN where a task has no row in a set.
    """

    def __init__(self, tasks: Sequence[MemberTask], row_sets: Sequence[RowsByTask]) -> None:
        import jax.numpy as jnp

        members = sum(task.members for task in tasks)
        n_features = tasks[0].x.shape[1]
        # Per member, the union of its rows in every set, padded to the longest member's.
        chosen: list[np.ndarray] = []
        for t, task in enumerate(tasks):
            for m in range(task.members):
                chosen.append(np.unique(np.concatenate([rows[t][m] for rows in row_sets])))
        width = max(1, max(len(rows) for rows in chosen))
        x = np.zeros((members, width, n_features), np.float32)
        y = np.zeros((members, width), np.float32)
        masks = np.zeros((len(row_sets), members, width), np.float32)
        owner = np.empty(members, np.int64)
        member = 0
        for t, task in enumerate(tasks):
            for m in range(task.members):
                rows = chosen[member]
                x[member, : len(rows)] = task.x[rows]
                y[member, : len(rows)] = task.y[rows]
                for k, row_set in enumerate(row_sets):
                    masks[k, member, : len(rows)] = np.isin(rows, row_set[t][m])
                owner[member] = t
                member += 1
        self._counts = np.stack(
            [np.bincount(owner, weights=masks[k].sum(axis=1), minlength=len(tasks))
             for k in range(len(row_sets))]
        )  # fmt: skip
        self._owner = owner
        self._tasks = len(tasks)
        # Kept on the device for the whole fit: a round sends nothing but the weights' handles.
        self._x, self._y, self._masks = (jnp.asarray(a) for a in (x, y, masks))
        self._sums = _compiled_sums()

    def __call__(self, model: Any) -> np.ndarray:
        sums = np.asarray(self._sums(_weights(model), self._x, self._y, self._masks), np.float64)
        by_task = np.stack(
            [np.bincount(self._owner, weights=s, minlength=self._tasks) for s in sums]
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self._counts > 0, by_task / self._counts, np.nan)


@functools.cache
def _compiled_sums() -> Any:
    """One jitted function for every scorer: its programs (one per shape) outlive a fit."""
    import jax

    return jax.jit(_squared_error_sums)


def _weights(model: Any) -> list[tuple[Any, Any]]:
    """The stacked model's (kernel, bias) pairs as device arrays: linear, hidden..., output."""
    layers = {layer.name: layer for layer in model.layers}
    names = [LINEAR]
    number = 1
    while f"hidden_{number}" in layers:
        names.append(f"hidden_{number}")
        number += 1
    names.append(OUTPUT)
    return [(layers[name].kernel.value, layers[name].bias.value) for name in names]


def _squared_error_sums(weights: list[tuple[Any, Any]], x: Any, y: Any, masks: Any) -> Any:
    """(sets, members) sums of squared errors: x (members, rows, features), masks (sets, ...)."""
    import jax.numpy as jnp

    (line_kernel, line_bias), *hidden, (out_kernel, out_bias) = weights
    line = jnp.einsum("mrf,mf->mr", x, line_kernel[..., 0]) + line_bias
    activations = x
    for kernel, bias in hidden:
        activations = jnp.maximum(jnp.matmul(activations, kernel) + bias[:, None, :], 0.0)
    residual = jnp.einsum("mru,mu->mr", activations, out_kernel[..., 0]) + out_bias
    squared = jnp.square(line + residual - y)
    return jnp.sum(masks * squared[None], axis=-1)


class DeviceRoundMonitor(RoundMonitor):
    """RoundMonitor (trainer.learn.rounds) with its scoring on the device, a drop-in for
    ``trainer.learn.members.RoundMonitor``: every task scored in one call after each round,
    weights copied to the host only in a round where some task improved (its snapshot).

    Not wired in yet: benchmarks/bench_gpu_queue.py swaps it in (--scoring device) so that one
    run measures both ways.
    """

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        super().on_train_begin(logs)
        self._scorer = DeviceScorer(
            [tracked.task for tracked in self.tracked],
            [[t.val_rows for t in self.tracked], [t.loss_rows for t in self.tracked]],
        )

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.rounds_done = epoch + 1
        running = self._running()
        if not running:
            return
        val, loss = self._scorer(self.model)
        index = {id(tracked): t for t, tracked in enumerate(self.tracked)}
        steps = self.rounds_done * self.plan.steps_per_round
        weights = None
        for tracked in running:
            t = index[id(tracked)]
            if self._improved(tracked, float(loss[t]), float(val[t])):
                if weights is None:
                    weights = MemberWeights.from_model(self.model)
                tracked.best = tracked.own(weights)
            tracked.task.reporter.maybe_report(steps, tracked.last_loss, tracked.last_val)
            tracked.done = tracked.done or tracked.task.reporter.cancelled
        self._stop_when_all_done()

    def _improved(self, tracked: Any, loss: float, val: float) -> bool:
        """rounds.RoundMonitor._score with the errors given: True when this round is the
        task's new best (its snapshot is then taken)."""
        task = tracked.task
        tracked.rounds_done = self.rounds_done
        tracked.last_loss = loss * task.loss_scale
        tracked.history["passes"].append(float(self.rounds_done * self.plan.repeats))
        tracked.history["loss"].append(tracked.last_loss)
        if not task.early_stopping:
            return False
        tracked.last_val = val * task.loss_scale
        tracked.history["val_loss"].append(tracked.last_val)
        if not self.early_stopping:
            return False
        if val < tracked.best_val:
            tracked.best_val, tracked.best_round = val, self.rounds_done
            return True
        if self.rounds_done - tracked.best_round >= self.plan.patience:
            tracked.done = True
        return False
