"""The program cache: compiled networks kept for reuse between trainings.

For networks this small, building, compiling and tracing a model costs more than training it:
on the 2-core machine of benchmarks/RESULTS.md a second fit on the same compiled model took
about half the time of a fresh one on TensorFlow and a third on JAX. A worker trains one
table after another with the same shapes, so it borrows a compiled program from the cache,
resets its weights and optimizer state, and gives it back afterwards.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from trainer.learn.recipes import Recipe

# A CPU worker's batches come in four sizes (1, 2, 4 and 8 tables, trainer.learn.batch), each a
# program of its own per table shape: 8 keeps them for two shapes, where 4 had every second
# shape evict the first's and compile again (about 2 s each on 2 cores). Each idle network
# holds its compiled program: 15 to 55 MB here, so 8 cost a worker up to about 250 MB more.
DEFAULT_SIZE = 8


@dataclass(frozen=True)
class ProgramKey:
    """What a compiled training step bakes in: networks with equal keys are interchangeable."""

    n_features: int
    hidden_layers: tuple[int, ...]
    activation: str
    loss: str
    optimizer: str
    learning_rate: float
    adam_beta_2: float
    lr_decay: str
    total_steps: int
    steps_per_execution: int
    jit_compile: str
    members: int = 1
    weight_decay: float = 0.0
    # JAX compiles one program per batch shape; stacked members always train in whole batches.
    batch_size: int = 0
    # Stacked members: which table (task) each member reads, e.g. (0,) * 5 for one table.
    member_tasks: tuple[int, ...] = ()

    @classmethod
    def of(
        cls,
        n_features: int,
        recipe: Recipe,
        *,
        total_steps: int,
        steps_per_execution: int,
        members: int = 1,
        batch_size: int = 0,
        member_tasks: tuple[int, ...] = (),
    ) -> ProgramKey:
        return cls(
            n_features=n_features,
            hidden_layers=recipe.hidden_layers,
            activation=recipe.activation,
            loss=recipe.loss,
            optimizer=recipe.optimizer,
            learning_rate=recipe.learning_rate,
            adam_beta_2=recipe.adam_beta_2,
            lr_decay=recipe.lr_decay,
            total_steps=total_steps,
            steps_per_execution=steps_per_execution,
            jit_compile=recipe.jit_compile,
            members=members,
            weight_decay=recipe.weight_decay,
            batch_size=batch_size,
            member_tasks=member_tasks,
        )


class _Compiled:
    """A compiled model with its optimizer's state as it was before any step."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.fresh_optimizer_state = [v.numpy() for v in model.optimizer.variables]

    def reset(self, weights: list[np.ndarray] | dict[str, list[np.ndarray]]) -> None:
        """Set ``weights`` (all of them, or by layer name) and put the optimizer back where it
        was before its first step."""
        if isinstance(weights, dict):
            for name, arrays in weights.items():
                self.model.get_layer(name).set_weights(arrays)
        else:
            self.model.set_weights(weights)
        for variable, value in zip(
            self.model.optimizer.variables, self.fresh_optimizer_state, strict=True
        ):
            variable.assign(value)


class ProgramCache:
    """Idle compiled networks by key, least recently used dropped first; safe across threads."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._idle: OrderedDict[ProgramKey, list[_Compiled]] = OrderedDict()
        self.built = 0  # networks compiled so far: tests and benchmarks read it

    @contextmanager
    def borrow(
        self,
        key: ProgramKey,
        build: Callable[[], Any],
        weights: list[np.ndarray] | dict[str, list[np.ndarray]],
    ) -> Iterator[Any]:
        """A compiled network for ``key`` holding ``weights``; back in the cache afterwards."""
        with self._lock:
            idle = self._idle.get(key)
            compiled = idle.pop() if idle else None
        if compiled is None:
            compiled = _Compiled(build())
            with self._lock:
                self.built += 1
        compiled.reset(weights)
        try:
            yield compiled.model
        finally:
            self._give_back(key, compiled)

    def _give_back(self, key: ProgramKey, compiled: _Compiled) -> None:
        with self._lock:
            self._idle.setdefault(key, []).append(compiled)
            self._idle.move_to_end(key)
            while sum(len(models) for models in self._idle.values()) > self.size:
                oldest_key, models = next(iter(self._idle.items()))
                models.pop(0)
                if not models:
                    del self._idle[oldest_key]

    def idle_count(self) -> int:
        with self._lock:
            return sum(len(models) for models in self._idle.values())


# One per process: the worker and `trainbot train` share it.
PROGRAMS = ProgramCache()
