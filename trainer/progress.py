"""Progress reports during a fit, rate-limited, and cancelling through them."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol


@dataclass
class Progress:
    """A training progress report: passes over the training rows done, of how many."""

    passes_done: int
    total_passes: int
    loss: float
    val_loss: float | None
    eta_seconds: float | None
    elapsed_seconds: float


class Clock(Protocol):
    """A job's time limit, which counts only while the job itself is at work."""

    def pause(self) -> None: ...

    def resume(self) -> None: ...


@contextmanager
def turn(clocks: Sequence[Clock | None], active: Collection[int]) -> Iterator[None]:
    """Only the clocks at ``active`` run meanwhile; every clock runs again afterwards.

    Jobs trained together wait for each other (one group of a batch trains after another): a
    job's time limit counts its own work, not that wait."""
    for index, clock in enumerate(clocks):
        if clock is not None and index not in active:
            clock.pause()
    try:
        yield
    finally:
        for clock in clocks:
            if clock is not None:
                clock.resume()


class Cancelled(Exception):
    """Training stopped because ``on_progress`` returned False."""


class Reporter:
    """Turns steps done into Progress reports at most every ``interval`` seconds.

    ``on_progress`` returning False asks training to stop; ``cancelled`` then stays True.
    """

    def __init__(
        self,
        on_progress: Callable[[Progress], bool] | None,
        *,
        interval: float,
        total_steps: int,
        total_passes: int,
    ) -> None:
        self.on_progress = on_progress
        self.interval = interval
        self.total_steps = max(1, total_steps)
        self.total_passes = total_passes
        self.cancelled = False
        self.started = self.last_report = time.perf_counter()

    def start(self) -> None:
        self.started = self.last_report = time.perf_counter()

    def maybe_report(self, steps_done: int, loss: float, val_loss: float | None) -> None:
        if time.perf_counter() - self.last_report >= self.interval:
            self.report(steps_done, loss, val_loss)

    def report(self, steps_done: int, loss: float, val_loss: float | None) -> None:
        now = time.perf_counter()
        self.last_report = now
        if self.on_progress is None or self.cancelled:
            return
        elapsed = now - self.started
        remaining = max(0, self.total_steps - steps_done)
        eta = elapsed / steps_done * remaining if steps_done > 0 else None
        passes = min(self.total_passes, steps_done * self.total_passes // self.total_steps)
        progress = Progress(
            passes_done=int(passes),
            total_passes=self.total_passes,
            loss=loss,
            val_loss=val_loss,
            eta_seconds=eta,
            elapsed_seconds=elapsed,
        )
        if self.on_progress(progress) is False:
            self.cancelled = True
