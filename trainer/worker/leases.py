"""Keeping the leases of claimed jobs: while a job runs, and while it waits its turn in a batch.

A job's lease is what tells other workers that someone is on it. The keeper renews it, notices
a cancel, a timeout or a shutdown, and beats the worker's heart in the registry, so that a
training of many minutes does not make a busy worker look dead.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from storage.errors import DatabaseError
from storage.store import Store
from storage.views import JobInfo, Signal
from storage.workers import BEAT_SECONDS
from trainer.progress import Progress

log = logging.getLogger(__name__)

REGISTRY_BEAT_SECONDS = BEAT_SECONDS
TICK_SECONDS = 0.05


class StopReason(enum.Enum):
    CANCEL = "cancel"
    LEASE_LOST = "lease_lost"
    TIMEOUT = "timeout"
    SHUTDOWN = "shutdown"


@dataclass
class Watch:
    """What the lease keeper and the training callback tell each other about a running job."""

    job: JobInfo
    deadline: float
    reason: StopReason | None = None
    finished: threading.Event = field(default_factory=threading.Event)
    ended: bool = False  # its stop is already stored (a batch goes on without it)
    paused_at: float | None = None  # its clock stands while it waits for batchmates

    @classmethod
    def start(cls, job: JobInfo) -> Watch:
        return cls(job, deadline=time.monotonic() + job.timeout_seconds)

    def pause(self) -> None:
        """Stop the job's clock: it waits while its batchmates train (trainer.progress.turn)."""
        if self.paused_at is None:
            self.paused_at = time.monotonic()

    def resume(self) -> None:
        """Run the clock again; the time limit moves on by the wait."""
        paused_at = self.paused_at
        if paused_at is not None:
            self.deadline += time.monotonic() - paused_at
            self.paused_at = None

    def overdue(self) -> bool:
        """Whether the job has worked past its time limit (never while it waits)."""
        return self.paused_at is None and time.monotonic() > self.deadline

    def stop(self, reason: StopReason) -> None:
        if self.reason is None:
            self.reason = reason

    def heed(self, signal: Signal | None) -> None:
        """Stop if the database says the lease is lost or the chat cancelled (None: no word)."""
        if signal is None:
            return
        if not signal.lease_held:
            self.stop(StopReason.LEASE_LOST)
        elif signal.cancel_requested:
            self.stop(StopReason.CANCEL)


class Waiting:
    """The claimed jobs of a batch that wait their turn; their leases are renewed meanwhile."""

    def __init__(self, jobs: Iterable[JobInfo]) -> None:
        self._jobs = {job.id: job for job in jobs}
        self._lost: set[int] = set()
        self._lock = threading.Lock()
        self.done = threading.Event()

    def __bool__(self) -> bool:
        with self._lock:
            return bool(self._jobs)

    def take(self, job: JobInfo) -> bool:
        """Stop renewing `job`, whose turn has come; False if its lease was lost meanwhile."""
        with self._lock:
            self._jobs.pop(job.id, None)
            return job.id not in self._lost

    def still_waiting(self) -> list[JobInfo]:
        with self._lock:
            return list(self._jobs.values())

    def lose(self, job: JobInfo) -> None:
        with self._lock:
            if self._jobs.pop(job.id, None) is not None:
                self._lost.add(job.id)


def record_progress(store: Store, watch: Watch, progress: Progress) -> None:
    """Record a training's progress, and heed the answer (a lost lease, a cancel) and the
    job's deadline."""
    job = watch.job
    try:
        signal = store.queue.record_progress(
            job,
            epoch=progress.passes_done,
            total=progress.total_passes,
            loss=progress.loss,
            val_loss=progress.val_loss,
            eta_seconds=progress.eta_seconds,
        )
    except DatabaseError as exc:
        # One lost progress report is not worth the training: the chat sees the next one,
        # and the keeper renews the lease on its own (tolerating the same error).
        log.warning("job %s: could not record progress (%s)", job.id, exc.orig)
        signal = None
    watch.heed(signal)
    if watch.overdue():
        watch.stop(StopReason.TIMEOUT)


class LeaseKeeper:
    """Renews the leases of one worker's jobs, each running job on a thread of its own."""

    def __init__(
        self,
        store: Store,
        worker: str,
        *,
        lease_seconds: float,
        stopping: Callable[[], bool],
    ) -> None:
        self.store = store
        self.worker = worker
        self.renew_every = max(lease_seconds / 3, TICK_SECONDS)
        self._stopping = stopping

    def keep(self, watch: Watch) -> threading.Thread:
        """Keep `watch.job`'s lease until `watch.finished` is set (or the job must stop)."""
        thread = threading.Thread(target=self._keep, args=(watch,), daemon=True)
        thread.start()
        return thread

    def keep_waiting(self, waiting: Waiting) -> threading.Thread:
        """Renew the leases of a batch's waiting jobs until each one's turn comes."""
        thread = threading.Thread(target=self._keep_waiting, args=(waiting,), daemon=True)
        thread.start()
        return thread

    def _keep(self, watch: Watch) -> None:
        # It wakes every tick rather than every renewal so that it lets go of a finished job
        # at once: the worker waits for it before taking the next job.
        next_renewal = time.monotonic() + self.renew_every
        next_beat = time.monotonic() + REGISTRY_BEAT_SECONDS
        while not watch.finished.wait(TICK_SECONDS):
            if self._stopping():
                watch.stop(StopReason.SHUTDOWN)
            elif watch.overdue():
                watch.stop(StopReason.TIMEOUT)
            if watch.reason is not None:
                return
            if time.monotonic() >= next_beat:
                next_beat = time.monotonic() + REGISTRY_BEAT_SECONDS
                self._beat(watch.job)
            if time.monotonic() >= next_renewal:
                next_renewal = time.monotonic() + self.renew_every
                watch.heed(self._renew(watch.job))

    def _beat(self, job: JobInfo) -> None:
        try:
            self.store.workers.beat(self.worker, job.id)
        except DatabaseError as exc:
            log.warning("worker %s: could not beat (%s)", self.worker, exc.orig)

    def _keep_waiting(self, waiting: Waiting) -> None:
        while not waiting.done.wait(self.renew_every):
            for job in waiting.still_waiting():
                signal = self._renew(job)
                if signal is not None and not signal.lease_held:
                    waiting.lose(job)

    def _renew(self, job: JobInfo) -> Signal | None:
        try:
            return self.store.queue.heartbeat(job)
        except DatabaseError as exc:
            # A blip: the lease has two more renewals' worth of time left.
            log.warning("job %s: could not renew the lease (%s)", job.id, exc.orig)
            return None
