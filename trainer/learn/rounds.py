"""The rounds of a members' fit: their plan, and after each round, per task, the pooled
held-out error, early stopping with its snapshot, curves, progress and cancel.

The plan grows with the table instead of being a fixed budget: mini-batches of about a
sixteenth of the rows (16 to 1,024), at most ``step_budget`` optimizer steps and
``max_row_passes`` rows seen, spread over about ``checkpoints`` rounds. After each round the
members' held-out rows are scored together (pooled out-of-fold error); a task stops once that
has not improved for ``patience`` rounds, and keeps its best round's weights. With the passes
set by the user (``epochs=``) every round runs, and the best round's weights are still the ones
kept: the fit says how far the held-out error rose after it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from trainer.learn.recipes import Recipe
from trainer.learn.stacked import MemberWeights, keras

if TYPE_CHECKING:
    from trainer.learn.members import MemberTask

# Rows per member scored after each round: the training loss shown is an estimate, and so is
# the held-out error that picks the round; a sample keeps rounds cheap on big tables.
LOSS_SAMPLE_ROWS = 2048
VAL_SAMPLE_ROWS = 8192
# Tests only: at most this many steps per round, so that a plan of many passes (epochs=5000)
# can be run for its memory without running its hours of steps. None: the plan's own.
ROUND_STEP_CAP: int | None = None


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
class MembersFit:
    """What training the members gave: the best round's weights and the curves."""

    weights: MemberWeights
    history: dict[str, list[float]] = field(default_factory=dict)
    best_pass: int = 0  # passes at the kept round
    passes_run: int = 0  # passes actually run
    stopped_early: bool = False
    cancelled: bool = False
    # Pooled held-out MSE (target units²) at the kept round and at the last round run; None
    # without held-out rows. The last above the best: held-out error rose after the kept round.
    best_val: float | None = None
    last_val: float | None = None

    @property
    def held_out_rise(self) -> float | None:
        """How far the last round's held-out error was above the kept round's, as a share."""
        if self.best_val is None or self.last_val is None or self.best_val <= 0:
            return None
        return max(0.0, self.last_val / self.best_val - 1.0)


@dataclass
class _Tracked:
    """A task's state across rounds: curves, its best snapshot, and whether it is done."""

    task: MemberTask
    offset: int
    val_rows: list[np.ndarray]
    loss_rows: list[np.ndarray]
    history: dict[str, list[float]] = field(
        default_factory=lambda: {"passes": [], "loss": [], "val_loss": []}
    )
    best_val: float = math.inf
    start_val: float = math.inf  # the start's own held-out error (scaled units)
    best_round: int = 0
    best: MemberWeights | None = None
    rounds_done: int = 0
    done: bool = False
    last_loss: float = math.nan
    last_val: float | None = None

    def own(self, weights: MemberWeights) -> MemberWeights:
        return weights.members_range(self.offset, self.offset + self.task.members)


class RoundMonitor(keras.callbacks.Callback):
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
            if tracked.task.early_stopping:
                # The members start as their ridge lines: a round must beat that start by the
                # margin to count, so on a table the line already fits, patience runs out early
                # and the members stay the lines they were.
                start = tracked.task.start
                tracked.start_val = _pooled(start, tracked.task, tracked.val_rows)
                tracked.best_val = tracked.start_val * (1 - self.start_margin)
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
            # The start's score carries the line's margin: the kept start's is its own error.
            best_val = tracked.start_val if best_round == 0 else tracked.best_val
            fits.append(
                MembersFit(
                    weights=kept,
                    history=tracked.history,
                    best_pass=best_round * self.plan.repeats,
                    passes_run=tracked.rounds_done * self.plan.repeats,
                    stopped_early=tracked.rounds_done < self.plan.max_rounds,
                    cancelled=tracked.task.reporter.cancelled,
                    best_val=_finite(best_val * tracked.task.loss_scale),
                    last_val=tracked.last_val,
                )
            )
        return fits

    def _score(self, tracked: _Tracked, weights: MemberWeights) -> None:
        task = tracked.task
        tracked.rounds_done = self.rounds_done
        tracked.last_loss = _pooled(weights, task, tracked.loss_rows) * task.loss_scale
        tracked.history["passes"].append(float(self.rounds_done * self.plan.repeats))
        tracked.history["loss"].append(tracked.last_loss)
        if not task.early_stopping:
            return
        val = _pooled(weights, task, tracked.val_rows)
        tracked.last_val = val * task.loss_scale
        tracked.history["val_loss"].append(tracked.last_val)
        if val < tracked.best_val:
            tracked.best_val, tracked.best_round, tracked.best = val, self.rounds_done, weights
        elif self.early_stopping and self.rounds_done - tracked.best_round >= self.plan.patience:
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


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _sample(rows: np.ndarray, limit: int, rng: np.random.Generator) -> np.ndarray:
    return rows if len(rows) <= limit else np.sort(rng.choice(rows, limit, replace=False))
