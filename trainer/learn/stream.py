"""The mini-batches of a members' fit, gathered step by step from each table's own rows.

Each table (task) is padded once to whole batches and shuffled per pass in an order drawn from
its own seed, so its mini-batches are the same whether it trains alone or beside other chats'
tables. Batches are gathered when Keras asks for them: memory follows the tables, never the
passes asked for (``epochs=5000`` once tiled the rows 125 times over for every round).

One Keras epoch is one round of ``steps`` batches. Batch ``i`` of round ``r`` is step
``r * steps + i`` of the run: pass ``step // steps_per_pass``, batch ``step % steps_per_pass`` of
it. ``RoundStart`` tells the stream its round as each epoch begins (Keras asks for an epoch's
batches only after that). This module imports Keras; the bot must never import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from trainer.learn.stacked import keras

if TYPE_CHECKING:
    from trainer.learn.members import MemberTask
    from trainer.learn.rounds import MemberPlan


@dataclass
class _Table:
    """One task's rows padded to whole batches: inputs, target, and each member's weight."""

    x: np.ndarray  # (padded, features) float32; padding rows are zeros
    y: np.ndarray  # (padded,) float32
    # (padded, members): 1 / members on the member's training rows, else 0. Each task's loss is
    # the mean of its own members' errors, whatever else trains in the same program.
    weight: np.ndarray
    seed: int
    inert: bool


class MemberStream(keras.utils.PyDataset):
    """``steps`` batches of (inputs (batch, tasks, features), packed targets (batch, 2 M)).

    The packed targets are each member's target, then each member's loss weight (what
    trainer.learn.stacked.masked_mse reads)."""

    def __init__(self, tasks: list[MemberTask], plan: MemberPlan, steps: int) -> None:
        """``steps`` batches a round (the plan's, unless a test cuts rounds short)."""
        # One worker and no processes: batches are made in this thread, in order.
        super().__init__(workers=1, use_multiprocessing=False)
        self.round = 0
        self.batch = plan.batch_size
        self.padded = plan.padded_rows
        self.steps_per_pass = self.padded // self.batch
        self.steps = steps
        self.members = sum(task.members for task in tasks)
        self.n_features = tasks[0].x.shape[1]
        self.tables = [self._table(task) for task in tasks]
        self.spans = np.cumsum([0] + [task.members for task in tasks])
        self._orders: dict[int, tuple[int, np.ndarray]] = {}

    def _table(self, task: MemberTask) -> _Table:
        if task.inert:
            # A padding slot: no rows at all (zero inputs, zero weights), nothing to gather.
            empty = np.zeros((0, 0), np.float32)
            return _Table(empty, np.zeros(0, np.float32), empty, task.seed, inert=True)
        rows = len(task.y)
        x = np.zeros((self.padded, self.n_features), np.float32)
        x[:rows] = task.x
        y = np.zeros(self.padded, np.float32)
        y[:rows] = task.y
        weight = np.zeros((self.padded, task.members), np.float32)
        weight[:rows] = np.asarray(task.train_mask, np.float32) / np.float32(task.members)
        return _Table(x, y, weight, task.seed, inert=False)

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        pass_, within = divmod(self.round * self.steps + int(index), self.steps_per_pass)
        x = np.zeros((self.batch, len(self.tables), self.n_features), np.float32)
        packed = np.zeros((self.batch, 2 * self.members), np.float32)
        for index, table in enumerate(self.tables):
            if table.inert:
                continue
            rows = self._order(index, pass_)[within * self.batch : (within + 1) * self.batch]
            start, stop = self.spans[index], self.spans[index + 1]
            x[:, index] = table.x[rows]
            packed[:, start:stop] = table.y[rows, None]
            packed[:, self.members + start : self.members + stop] = table.weight[rows]
        return x, packed

    def _order(self, index: int, pass_: int) -> np.ndarray:
        """Table ``index``'s row order in pass ``pass_``, from its own seed (the latest kept)."""
        cached = self._orders.get(index)
        if cached is not None and cached[0] == pass_:
            return cached[1]
        seed = self.tables[index].seed % 2**63
        order = np.random.default_rng((seed, pass_)).permutation(self.padded)
        self._orders[index] = (pass_, order)
        return order


class RoundStart(keras.callbacks.Callback):
    """Tells ``stream`` which round (Keras epoch) its batches are now for."""

    def __init__(self, stream: MemberStream) -> None:
        super().__init__()
        self.stream = stream

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.stream.round = epoch
