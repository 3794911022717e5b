"""Train stacked members (trainer.learn.stacked) with checkpoints, early stopping and progress.

The plan grows with the table instead of being a fixed budget: mini-batches of about a
sixteenth of the rows (16 to 1,024), at most ``step_budget`` optimizer steps and
``max_row_passes`` rows seen, spread over about ``checkpoints`` rounds. After each round the
members' held-out rows are scored together (pooled out-of-fold error); a task stops once that
has not improved for ``patience`` rounds, and keeps its best round's weights.

One fit trains one task (a table's cross-validation members) or several tasks of the same
plan side by side (several chats' tables), each with its own rows, start, early stopping,
progress and cancel: a task that stops early keeps its snapshot while the others go on.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trainer.learn.network import compile_model
from trainer.learn.programs import NETWORKS, NetworkKey, NetworkPool
from trainer.learn.recipes import Recipe
from trainer.learn.stacked import MemberWeights, build_members, keras, masked_mse
from trainer.progress import Reporter

# Rows per member scored after each round: the training loss shown is an estimate, and so is
# the held-out error that picks the round; a sample keeps rounds cheap on big tables.
LOSS_SAMPLE_ROWS = 2048
VAL_SAMPLE_ROWS = 8192


@dataclass(frozen=True)
class MemberPlan:
    """Batch size, padding and rounds for stacked members on a table of ``rows`` rows."""

    rows: int
    batch_size: int
    repeats: int  # passes over the rows per round (one Keras epoch)
    max_rounds: int
    patience: int
    steps_per_execution: int

    @property
    def padded_rows(self) -> int:
        """Rows per pass, padded with masked-out rows to whole batches."""
        return math.ceil(self.rows / self.batch_size) * self.batch_size

    @property
    def steps_per_round(self) -> int:
        return self.padded_rows // self.batch_size * self.repeats

    @property
    def max_passes(self) -> int:
        return self.repeats * self.max_rounds


def plan_members(recipe: Recipe, rows: int) -> MemberPlan:
    """The plan for ``rows`` rows: user overrides (epochs, batch size) win."""
    rows = max(1, rows)
    batch = recipe.batch_size or int(np.clip(1 << max(0, round(math.log2(rows / 16))), 16, 1024))
    batch = min(batch, 1 << math.ceil(math.log2(rows)))
    steps_per_pass = math.ceil(rows / batch)
    if recipe.epochs is not None:
        passes = recipe.epochs
    else:
        wanted = min(recipe.step_budget // steps_per_pass, recipe.max_row_passes // rows)
        passes = int(np.clip(wanted, 4, recipe.max_passes))
    repeats = max(1, round(passes / recipe.checkpoints))
    max_rounds = max(1, math.ceil(passes / repeats))
    patience = max(2, math.ceil(recipe.patience_share * max_rounds))
    steps_per_round = steps_per_pass * repeats
    per_execution = min(recipe.steps_per_execution or steps_per_round, steps_per_round)
    return MemberPlan(
        rows=rows,
        batch_size=batch,
        repeats=repeats,
        max_rounds=max_rounds,
        patience=patience,
        steps_per_execution=per_execution,
    )


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

    def as_padding(self) -> MemberTask:
        """A task of this one's shape that learns nothing and is never waited for."""
        nothing = np.zeros_like(self.train_mask)
        return dataclasses.replace(
            self, train_mask=nothing, val_mask=nothing, reporter=Reporter(None, interval=1e9,
            total_steps=1, total_epochs=1), inert=True,
        )  # fmt: skip

    @property
    def members(self) -> int:
        return self.train_mask.shape[1]

    @property
    def early_stopping(self) -> bool:
        return bool(self.val_mask.any())


@dataclass
class MembersFit:
    """What training the members gave: the best round's weights and the curves."""

    weights: MemberWeights
    history: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int = 0  # passes at the kept round
    epochs_run: int = 0  # passes actually run
    stopped_early: bool = False
    cancelled: bool = False


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
    pool: NetworkPool = NETWORKS,
    use_early_stopping: bool = True,
    slots: int | None = None,
) -> list[MembersFit]:
    """Train every task's members from their starts, as one program; a fit per task.

    All tasks share ``recipe`` (but for their seeds) and ``plan`` (but for their row counts,
    which pad to the plan's). One task's rows are shared by its members; several tasks give
    each member its own rows. ``use_early_stopping`` False runs every planned round.
    ``slots`` pads the program with inert tasks to that many, so that batches of a few
    sizes reuse a few compiled programs instead of compiling one for every count of jobs.
    """
    wanted = len(tasks)
    tasks = tasks + [tasks[0].as_padding() for _ in range(max(0, (slots or 0) - wanted))]
    n_features = tasks[0].x.shape[1]
    members = sum(task.members for task in tasks)
    shared_rows = len(tasks) == 1
    key = NetworkKey.of(
        n_features,
        recipe,
        total_steps=0,  # the learning rate is set per round, so no step count is compiled in
        steps_per_execution=plan.steps_per_execution,
        members=members,
        batch_size=plan.batch_size,
        shared_rows=shared_rows,
    )

    def build() -> Any:
        network = build_members(n_features, members, recipe.hidden_layers, shared_rows=shared_rows)
        compile_model(
            network,
            recipe,
            total_steps=None,
            steps_per_execution=plan.steps_per_execution,
            loss=masked_mse,
            target_width=2 * members,
        )
        return network

    x_fit, y_fit = _stacked_rows(tasks, plan)
    monitor = _RoundMonitor(
        tasks, plan, early_stopping=use_early_stopping, start_margin=recipe.line_margin
    )
    callbacks = [
        keras.callbacks.LearningRateScheduler(lambda round_: _rate(recipe, plan, round_)),
        monitor,
    ]
    start = MemberWeights.concatenate([task.start for task in tasks])
    with pool.borrow(key, build, _by_layer(start)) as network:
        keras.utils.set_random_seed(tasks[0].seed)
        network.fit(
            x_fit,
            y_fit,
            batch_size=plan.batch_size,
            epochs=plan.max_rounds,
            shuffle=True,
            verbose=0,
            callbacks=callbacks,
        )
        last = MemberWeights.from_model(network)
    return monitor.results(last)[:wanted]


def _rate(recipe: Recipe, plan: MemberPlan, round_: int) -> float:
    """Cosine from the recipe's rate down to a tenth of it over the planned rounds."""
    if recipe.lr_decay != "cosine" or plan.max_rounds <= 1:
        return recipe.learning_rate
    progress = min(1.0, round_ / (plan.max_rounds - 1))
    return recipe.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def _stacked_rows(tasks: list[MemberTask], plan: MemberPlan) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and packed targets (each member's target, then its mask), padded with masked
    rows to the plan's whole batches and repeated for a round."""
    padded = plan.padded_rows
    members = sum(task.members for task in tasks)
    n_features = tasks[0].x.shape[1]
    packed = np.zeros((padded, 2 * members), np.float32)
    if len(tasks) == 1:
        x = np.zeros((padded, n_features), np.float32)
        x[: len(tasks[0].x)] = tasks[0].x
    else:
        x = np.zeros((padded, members, n_features), np.float32)
    offset = 0
    for task in tasks:
        rows, span = len(task.y), slice(offset, offset + task.members)
        if len(tasks) > 1:
            x[:rows, span] = np.asarray(task.x, np.float32)[:, None, :]
        packed[:rows, span] = np.asarray(task.y, np.float32)[:, None]
        packed[:rows, members + offset : members + offset + task.members] = task.train_mask
        offset += task.members
    reps = (plan.repeats,) + (1,) * (x.ndim - 1)
    return np.tile(x, reps), np.tile(packed, (plan.repeats, 1))


def _by_layer(weights: MemberWeights) -> dict[str, list[np.ndarray]]:
    """Weights by the stacked model's layer names."""
    layers = {"linear": list(weights.linear), "prediction": list(weights.output)}
    for number, (kernel, bias) in enumerate(weights.hidden, start=1):
        layers[f"hidden_{number}"] = [kernel, bias]
    return layers


@dataclass
class _Tracked:
    """A task's state across rounds: curves, its best snapshot, and whether it is done."""

    task: MemberTask
    offset: int
    val_rows: list[np.ndarray]
    loss_rows: list[np.ndarray]
    history: dict[str, list[float]] = field(
        default_factory=lambda: {"epoch": [], "loss": [], "val_loss": []}
    )
    best_val: float = math.inf
    best_round: int = 0
    best: MemberWeights | None = None
    rounds_done: int = 0
    done: bool = False
    last_loss: float = math.nan
    last_val: float | None = None

    def own(self, weights: MemberWeights) -> MemberWeights:
        return weights.members_range(self.offset, self.offset + self.task.members)


class _RoundMonitor(keras.callbacks.Callback):
    """After each round, per task: pooled held-out error, early stopping with its snapshot,
    curves, progress and cancel. Training ends when every task is done."""

    def __init__(
        self,
        tasks: list[MemberTask],
        plan: MemberPlan,
        *,
        early_stopping: bool,
        start_margin: float,
    ) -> None:
        super().__init__()
        self.plan = plan
        self.early_stopping = early_stopping
        self.start_margin = start_margin
        self.tracked: list[_Tracked] = []
        offset = 0
        for task in tasks:
            rng = np.random.default_rng(task.seed)
            self.tracked.append(
                _Tracked(
                    task=task,
                    offset=offset,
                    val_rows=[
                        _sample(np.flatnonzero(task.val_mask[:, m]), VAL_SAMPLE_ROWS, rng)
                        for m in range(task.members)
                    ],
                    loss_rows=[
                        _sample(np.flatnonzero(task.train_mask[:, m]), LOSS_SAMPLE_ROWS, rng)
                        for m in range(task.members)
                    ],
                )
            )
            self.tracked[-1].done = task.inert
            offset += task.members
        self.rounds_done = 0

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        for tracked in self.tracked:
            tracked.task.reporter.start()
            if self.early_stopping and tracked.task.early_stopping:
                # The members start as their ridge lines: a round must beat that start by the
                # margin to count, so on a table the line already fits, patience runs out early
                # and the members stay the lines they were.
                start = tracked.task.start
                tracked.best_val = _pooled(start, tracked.task, tracked.val_rows) * (
                    1 - self.start_margin
                )
                tracked.best = start

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        steps = self.rounds_done * self.plan.steps_per_round + batch + 1
        for tracked in self._running():
            tracked.task.reporter.maybe_report(steps, tracked.last_loss, tracked.last_val)
            tracked.done = tracked.done or tracked.task.reporter.cancelled
        self._stop_when_all_done()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.rounds_done = epoch + 1
        running = self._running()
        if not running:
            return
        weights = MemberWeights.from_model(self.model)
        steps = self.rounds_done * self.plan.steps_per_round
        for tracked in running:
            self._score(tracked, tracked.own(weights))
            tracked.task.reporter.maybe_report(steps, tracked.last_loss, tracked.last_val)
            tracked.done = tracked.done or tracked.task.reporter.cancelled
        self._stop_when_all_done()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        for tracked in self.tracked:
            if not tracked.task.reporter.cancelled:
                tracked.task.reporter.report(
                    tracked.rounds_done * self.plan.steps_per_round,
                    tracked.last_loss,
                    tracked.last_val,
                )

    def results(self, last: MemberWeights) -> list[MembersFit]:
        fits = []
        for tracked in self.tracked:
            kept = tracked.best if tracked.best is not None else tracked.own(last)
            best_round = tracked.best_round if tracked.best is not None else tracked.rounds_done
            fits.append(
                MembersFit(
                    weights=kept,
                    history=tracked.history,
                    best_epoch=best_round * self.plan.repeats,
                    epochs_run=tracked.rounds_done * self.plan.repeats,
                    stopped_early=tracked.rounds_done < self.plan.max_rounds,
                    cancelled=tracked.task.reporter.cancelled,
                )
            )
        return fits

    def _score(self, tracked: _Tracked, weights: MemberWeights) -> None:
        task = tracked.task
        tracked.rounds_done = self.rounds_done
        tracked.last_loss = _pooled(weights, task, tracked.loss_rows) * task.loss_scale
        tracked.history["epoch"].append(float(self.rounds_done * self.plan.repeats))
        tracked.history["loss"].append(tracked.last_loss)
        if not task.early_stopping:
            return
        val = _pooled(weights, task, tracked.val_rows)
        tracked.last_val = val * task.loss_scale
        tracked.history["val_loss"].append(tracked.last_val)
        if not self.early_stopping:
            return
        if val < tracked.best_val:
            tracked.best_val, tracked.best_round, tracked.best = val, self.rounds_done, weights
        elif self.rounds_done - tracked.best_round >= self.plan.patience:
            tracked.done = True

    def _running(self) -> list[_Tracked]:
        return [tracked for tracked in self.tracked if not tracked.done]

    def _stop_when_all_done(self) -> None:
        if not self._running():
            self.model.stop_training = True


def _pooled(weights: MemberWeights, task: MemberTask, rows_by_member: list[np.ndarray]) -> float:
    """Mean squared error over every member's given rows together."""
    total, count = 0.0, 0
    for member, rows in enumerate(rows_by_member):
        if len(rows) == 0:
            continue
        predicted = weights.member(member).predict(task.x[rows])[:, 0]
        total += float(np.sum((predicted - task.y[rows]) ** 2))
        count += len(rows)
    return total / count if count else math.nan


def _sample(rows: np.ndarray, limit: int, rng: np.random.Generator) -> np.ndarray:
    return rows if len(rows) <= limit else np.sort(rng.choice(rows, limit, replace=False))
