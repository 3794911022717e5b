"""Train stacked members (trainer.learn.stacked) as one program, round by round.

One fit trains one task (a table's cross-validation members) or several tasks of the same
plan side by side (several chats' tables), each with its own rows, order, start, early stopping,
progress and cancel: a task that stops early keeps its snapshot while the others go on.
The rounds themselves (their plan, and what happens after each) are trainer.learn.rounds.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trainer.learn import rounds
from trainer.learn.network import compile_model
from trainer.learn.programs import PROGRAMS, ProgramCache, ProgramKey
from trainer.learn.recipes import Recipe
from trainer.learn.rounds import MemberPlan, MembersFit, RoundMonitor
from trainer.learn.stacked import MemberWeights, build_members, keras, masked_mse
from trainer.learn.stream import MemberStream, RoundStart
from trainer.progress import Reporter


@dataclass
class MemberTask:
    """One table's members: scaled rows, which rows each member learns and scores, a start."""

    x: np.ndarray  # (rows, features), standardised
    y: np.ndarray  # (rows,), standardised
    train_mask: np.ndarray  # (rows, members): 1 where the member learns the row
    val_mask: np.ndarray  # (rows, members): 1 where the member is scored on the row
    start: MemberWeights
    reporter: Reporter
    loss_scale: float = 1.0  # turns losses back into the target's units²
    seed: int = 0
    inert: bool = False  # a slot that only pads the program to a size compiled before
    # Record every round's held-out predictions (scaled units, NaN on rows held out by no
    # member) in ``recorded``, the start first: the honest choice of a round needs them.
    record: bool = False
    recorded: list[np.ndarray] = field(default_factory=list)

    def as_padding(self) -> MemberTask:
        """A task of this one's shape that learns nothing and is never waited for."""
        nothing = np.zeros_like(self.train_mask)
        return dataclasses.replace(
            self, train_mask=nothing, val_mask=nothing, reporter=Reporter(None, interval=1e9,
            total_steps=1, total_passes=1), inert=True, record=False, recorded=[],
        )  # fmt: skip

    @property
    def members(self) -> int:
        return self.train_mask.shape[1]

    @property
    def early_stopping(self) -> bool:
        return bool(self.val_mask.any())


def initial_weights(
    n_features: int, members: int, hidden_layers: tuple[int, ...], seed: int
) -> MemberWeights:
    """Glorot-uniform hidden layers and a zero output layer, from numpy's seeded generator.

    Drawn here rather than by Keras so that a seed starts the same members on every backend.
    """
    rng = np.random.default_rng(seed)
    hidden = []
    fan_in = n_features
    for units in hidden_layers:
        limit = math.sqrt(6.0 / (fan_in + units))
        kernel = rng.uniform(-limit, limit, (members, fan_in, units)).astype(np.float32)
        hidden.append((kernel, np.zeros((members, units), np.float32)))
        fan_in = units
    return MemberWeights(
        linear=(
            np.zeros((members, n_features, 1), np.float32),
            np.zeros((members, 1), np.float32),
        ),
        hidden=hidden,
        output=(np.zeros((members, fan_in, 1), np.float32), np.zeros((members, 1), np.float32)),
    )


def fit_members(
    tasks: list[MemberTask],
    recipe: Recipe,
    plan: MemberPlan,
    *,
    programs: ProgramCache = PROGRAMS,
    use_early_stopping: bool = True,
    slots: int | None = None,
) -> list[MembersFit]:
    """Train every task's members from their starts, as one program; a fit per task.

    All tasks share ``recipe`` (but for their seeds) and ``plan`` (but for their row counts,
    which pad to the plan's); each task's mini-batches come in its own order, and its loss is
    its own members' (trainer.learn.stream), so a task trains the same alone or beside others.
    ``use_early_stopping`` False runs every planned round (and still keeps the best one).
    ``slots`` pads the program with inert tasks to that many, so that batches of a few
    sizes reuse a few compiled programs instead of compiling one for every count of jobs.
    """
    wanted = len(tasks)
    tasks = tasks + [tasks[0].as_padding() for _ in range(max(0, (slots or 0) - wanted))]
    key, build = _program(tasks, recipe, plan)
    # A round is a Keras epoch of the plan's steps (fewer where a test cuts rounds short).
    stream = MemberStream(
        tasks, plan, steps=min(plan.steps_per_round, rounds.ROUND_STEP_CAP or plan.steps_per_round)
    )
    monitor = RoundMonitor(
        tasks, plan, early_stopping=use_early_stopping, start_margin=recipe.line_margin
    )
    callbacks = [
        RoundStart(stream),
        keras.callbacks.LearningRateScheduler(lambda round_: _rate(recipe, plan, round_)),
        _HeldOutRecorder(tasks),
        monitor,
    ]
    start = MemberWeights.concatenate([task.start for task in tasks])
    with programs.borrow(key, build, _by_layer(start)) as network:
        # No shuffle here: each table's rows come in its own seeded order (MemberStream).
        network.fit(
            stream,
            epochs=plan.max_rounds,
            shuffle=False,
            verbose=0,
            callbacks=callbacks,
        )
        last = MemberWeights.from_model(network)
    return monitor.results(last)[:wanted]


class _HeldOutRecorder(keras.callbacks.Callback):
    """Each recording task's held-out predictions at the start and after every round."""

    def __init__(self, tasks: list[MemberTask]) -> None:
        super().__init__()
        self.tasks, self.offsets = tasks, np.cumsum([0] + [task.members for task in tasks])

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        for task in self.tasks:
            if task.record:
                task.recorded.clear()
                task.recorded.append(held_out_predictions(task.start, task.x, task.val_mask))

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if not any(task.record for task in self.tasks):
            return
        weights = MemberWeights.from_model(self.model)
        for task, offset in zip(self.tasks, self.offsets, strict=False):
            if task.record:
                own = weights.members_range(int(offset), int(offset) + task.members)
                task.recorded.append(held_out_predictions(own, task.x, task.val_mask))


def held_out_predictions(weights: MemberWeights, x: np.ndarray, val_mask: np.ndarray) -> np.ndarray:
    """Each row predicted by the member that holds it out (scaled units; NaN: no member)."""
    predicted = np.full(len(x), np.nan)
    for member in range(val_mask.shape[1]):
        rows = np.flatnonzero(val_mask[:, member])
        if len(rows):
            predicted[rows] = weights.member(member).predict(x[rows])[:, 0]
    return predicted


def _program(
    tasks: list[MemberTask], recipe: Recipe, plan: MemberPlan
) -> tuple[ProgramKey, Callable[[], Any]]:
    """The key of the compiled program that trains ``tasks``' members, and how to build one."""
    n_features = tasks[0].x.shape[1]
    member_tasks = tuple(t for t, task in enumerate(tasks) for _ in range(task.members))
    members = len(member_tasks)
    key = ProgramKey.of(
        n_features,
        recipe,
        total_steps=0,  # the learning rate is set per round, so no step count is compiled in
        steps_per_execution=plan.steps_per_execution,
        members=members,
        batch_size=plan.batch_size,
        member_tasks=member_tasks,
    )

    def build() -> Any:
        network = build_members(n_features, recipe.hidden_layers, member_tasks)
        compile_model(
            network,
            recipe,
            total_steps=None,
            steps_per_execution=plan.steps_per_execution,
            loss=masked_mse,
            target_width=2 * members,
        )
        return network

    return key, build


def _rate(recipe: Recipe, plan: MemberPlan, round_: int) -> float:
    """Cosine from the recipe's rate down to a tenth of it over the planned rounds."""
    if recipe.lr_decay != "cosine" or plan.max_rounds <= 1:
        return recipe.learning_rate
    progress = min(1.0, round_ / (plan.max_rounds - 1))
    return recipe.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def _by_layer(weights: MemberWeights) -> dict[str, list[np.ndarray]]:
    """Weights by the stacked model's layer names."""
    layers = {"linear": list(weights.linear), "prediction": list(weights.output)}
    for number, (kernel, bias) in enumerate(weights.hidden, start=1):
        layers[f"hidden_{number}"] = [kernel, bias]
    return layers
