"""The trainer worker: claims train and predict jobs from storage and writes back results.

It never talks to Telegram: everything the chat should see goes to the outbox.
"""

from __future__ import annotations

import contextlib
import enum
import gc
import logging
import os
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import cachetools

from storage.errors import DatabaseError, database_away
from storage.models import JobKind
from storage.results import NewArtifact, NewMessage
from storage.store import Store
from storage.views import JobInfo
from storage.workers import BEAT_SECONDS
from trainbot.settings import Settings
from trainer import backend
from trainer.dataset import DatasetError
from trainer.fit import Cancelled, Progress
from trainer.params import TrainParams
from trainer.predictor import PredictError, Predictor
from trainer.recipes import resolve
from trainer.tasks import (
    Trained,
    TrainInput,
    TrainTask,
    prediction_dict,
    train_model,
    train_models,
)

log = logging.getLogger(__name__)

REGISTRY_BEAT_SECONDS = BEAT_SECONDS
DB_RETRY_MAX_SECONDS = 10.0
KEEPER_TICK_SECONDS = 0.05
# Predictions claimed together. Each keeps its lease while it waits its turn, so a batch must
# finish well within the lease even when every model in it has to be loaded first.
PREDICT_BATCH = 8
# Training jobs claimed together and trained as one program (trainer.together), by device:
# on a CPU the program's cost grows with its members, on a GPU it hardly does.
TRAIN_BATCH = {"cpu": 8, "gpu": 64}
ALL_KINDS: tuple[JobKind, ...] = (JobKind.PREDICT, JobKind.TRAIN)


class StopReason(enum.Enum):
    CANCEL = "cancel"
    LEASE_LOST = "lease_lost"
    TIMEOUT = "timeout"
    SHUTDOWN = "shutdown"


GONE_UPLOAD = "The uploaded file of this job is gone, so I cannot train on it."


class JobFailure(Exception):
    """A failure the chat should hear about in one sentence, not worth retrying."""


@dataclass
class _Watch:
    """What the lease keeper and the training callback tell each other about a running job."""

    job: JobInfo
    deadline: float
    reason: StopReason | None = None
    finished: threading.Event = field(default_factory=threading.Event)
    ended: bool = False  # its stop is already stored (a batch goes on without it)

    def stop(self, reason: StopReason) -> None:
        if self.reason is None:
            self.reason = reason


class ModelCache:
    """Recently used predictors, so a `/predict` does not reload its model from the database.

    Both lanes use it (the training lane puts a just-trained model in), hence the lock.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: cachetools.LRUCache[int, Predictor] = cachetools.LRUCache(maxsize=max(size, 1))
        self._lock = threading.Lock()

    def get(self, model_id: int) -> Predictor | None:
        with self._lock:
            return self._items.get(model_id)

    def put(self, model_id: int, predictor: Predictor) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._items[model_id] = predictor


class _Waiting:
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


class Worker:
    """Claims jobs until asked to stop, in a lane per kind of job.

    With both kinds (the default) predictions have a lane of their own, a thread beside the
    training lane, so a `/predict` never waits behind a training. The training lane claims
    up to `train_batch` waiting jobs at once and trains them together.

    `train_task` turns a training job's input into what to store (`train_model` by default;
    batches then go to `train_models` as one program); the worker around it does the
    bookkeeping: leases, progress, cancel, timeouts, results.
    """

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        name: str | None = None,
        kinds: Sequence[JobKind] = ALL_KINDS,
        train_batch: int | None = None,
        train_task: TrainTask = train_model,
    ) -> None:
        self.store = store
        self.settings = settings
        self.name = name or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:4]}"
        self.kinds = tuple(kinds)
        self._train_batch = train_batch
        self.train_task = train_task
        self.models = ModelCache(settings.model_cache_size)
        self._stop = threading.Event()
        self._last_reclaim = 0.0
        self._last_beat = 0.0
        self._configured = False
        self._housekeeping_lock = threading.Lock()

    @property
    def train_batch(self) -> int:
        """Training jobs claimed and trained together: the setting, else by device."""
        if self._train_batch or self.settings.train_batch:
            return self._train_batch or self.settings.train_batch
        device = backend.device_description()
        return TRAIN_BATCH["cpu" if device == "cpu" else "gpu"]

    def run(self, stop: threading.Event | None = None) -> None:
        """Work until `stop` is set; a job in hand is finished (predict) or handed back (train)."""
        if stop is not None:
            self._stop = stop
        self._configure()
        log.info(
            "worker %s ready (%s on %s)",
            self.name,
            backend.backend_name(),
            backend.device_description(),
        )
        lanes = []
        if set(self.kinds) == set(ALL_KINDS):
            lanes = [
                threading.Thread(
                    target=self._lane, args=((JobKind.PREDICT,),), name="predict-lane", daemon=True
                )
            ]
            kinds: tuple[JobKind, ...] = (JobKind.TRAIN,)
        else:
            kinds = self.kinds
        for lane in lanes:
            lane.start()
        try:
            self._lane(kinds)
        finally:
            self._stop.set()
            for lane in lanes:
                lane.join()
            with contextlib.suppress(DatabaseError):
                self.store.workers.stopped(self.name)
            log.info("worker %s stopped", self.name)

    def _lane(self, kinds: tuple[JobKind, ...]) -> None:
        """Claim and run jobs of `kinds` until the worker stops."""
        outage = 0
        while not self._stop.is_set():
            try:
                if not self.run_once(kinds):
                    # Back in time for the next registry beat, however long the poll.
                    wait = min(self.settings.poll_interval, REGISTRY_BEAT_SECONDS)
                    self.store.queue.wait_for_work(wait)
                outage = 0
            except DatabaseError as exc:
                # The database is away (restart, network): wait and carry on; any job in
                # hand comes back to the queue when its lease runs out.
                outage += 1
                delay = min(DB_RETRY_MAX_SECONDS, 0.5 * 2 ** min(outage, 6))
                log.warning("database unavailable (%s); retrying in %.1f s", exc.orig, delay)
                self._stop.wait(delay)

    def run_once(self, kinds: Sequence[JobKind] | None = None) -> bool:
        """Claim and process the next job with the ones of its kind waiting behind it (up to a
        batch); False if none.

        Predictions take milliseconds, so claiming and registering them one at a time would
        cost more than answering them; a batch shares those round trips. Training jobs claimed
        together train as one program, which costs a CPU little more than one of them.
        """
        self._configure()
        self._housekeeping()
        queue = self.store.queue
        job = queue.claim(self.name, tuple(kinds or self.kinds))
        if job is None:
            return False
        if job.kind == JobKind.TRAIN:
            batch = [job]
            if self._batchable(job):
                for other in queue.claim_batch(
                    self.name, (JobKind.TRAIN,), limit=self.train_batch - 1
                ):
                    if self._batchable(other):
                        batch.append(other)
                    else:
                        # A recipe of one network trains alone: back in the queue it can go
                        # to another worker instead of waiting here.
                        queue.release(other)
            self._train_together(batch)
            return True
        jobs = [job]
        # Predictions come first in the queue, so the ones behind this one are its batch.
        jobs += queue.claim_batch(self.name, (JobKind.PREDICT,), limit=PREDICT_BATCH - 1)
        # Every claimed job's lease is held: the one running has its keeper, and the ones
        # waiting behind it are renewed by one thread until their turn comes.
        waiting = _Waiting(jobs[1:])
        renewer = threading.Thread(target=self._keep_waiting, args=(waiting,), daemon=True)
        if waiting:
            renewer.start()
        try:
            self.store.workers.beat(self.name, jobs[0].id)
            for job in jobs:
                if waiting.take(job):
                    self.process(job)
                else:
                    log.warning("job %s: lease lost while waiting its turn", job.id)
        finally:
            waiting.done.set()
            if renewer.is_alive():
                renewer.join()
            self.store.workers.beat(self.name, None)
            self._last_beat = time.monotonic()
        return True

    def _batchable(self, job: JobInfo) -> bool:
        """Whether a training job's recipe can share a program with others."""
        try:
            params = TrainParams.from_dict(job.params)
            return resolve(params, self.settings.limits).engine == "stacked"
        except (TypeError, ValueError, KeyError):
            return False

    def _configure(self) -> None:
        if not self._configured:
            backend.configure()
            self.store.workers.register(
                self.name,
                hostname=socket.gethostname(),
                pid=os.getpid(),
                backend=backend.backend_name(),
                device=backend.device_description(),
            )
            # The backend's half a million objects live as long as the process: frozen, the
            # collector stops walking them, which had cost a report's plot up to 0.3 s.
            gc.freeze()
            self._configured = True

    def _housekeeping(self) -> None:
        with self._housekeeping_lock:  # two lanes share it
            self._housekeeping_now()

    def _housekeeping_now(self) -> None:
        now = time.monotonic()
        if now - self._last_reclaim >= self.settings.lease_seconds / 2:
            self.store.queue.reclaim_expired()
            self._last_reclaim = now
        if now - self._last_beat >= REGISTRY_BEAT_SECONDS:
            self.store.workers.beat(self.name, None)
            self._last_beat = now

    # -- one job -----------------------------------------------------------------------------

    def process(self, job: JobInfo) -> None:
        """Run one claimed job to its end (a training as a batch of one)."""
        if job.kind == JobKind.TRAIN:
            self._train_together([job])
            return
        extra = {"job_id": job.id, "chat_id": job.chat_id, "worker": self.name}
        watch = _Watch(job, deadline=time.monotonic() + job.timeout_seconds)
        keeper = threading.Thread(target=self._keep_lease, args=(watch,), daemon=True)
        keeper.start()
        try:
            self._predict(job)
        except Cancelled:
            self._stopped(job, watch)
        except (JobFailure, DatasetError, PredictError) as failure:
            self.store.queue.fail(job, str(failure), retry=False)
        except Exception:
            log.error("job %s crashed:\n%s", job.id, traceback.format_exc(), extra=extra)
            self.store.queue.fail(job, "Something went wrong on my side while running this job.")
        finally:
            watch.finished.set()
            keeper.join()

    @property
    def _renew_every(self) -> float:
        return max(self.settings.lease_seconds / 3, KEEPER_TICK_SECONDS)

    def _keep_lease(self, watch: _Watch) -> None:
        """Renew the lease while the job runs, and notice cancel, timeout and shutdown.

        It wakes every tick rather than every renewal so that it lets go of a finished job
        at once: the worker waits for it before taking the next job. It also beats the
        worker's heart in the registry, which `trainbot health worker` reads: a training of
        many minutes must not make a busy worker look dead.
        """
        next_renewal = time.monotonic() + self._renew_every
        next_beat = time.monotonic() + REGISTRY_BEAT_SECONDS
        while not watch.finished.wait(KEEPER_TICK_SECONDS):
            if self._stop.is_set():
                watch.stop(StopReason.SHUTDOWN)
            elif time.monotonic() > watch.deadline:
                watch.stop(StopReason.TIMEOUT)
            if watch.reason is not None:
                return
            if time.monotonic() >= next_beat:
                next_beat = time.monotonic() + REGISTRY_BEAT_SECONDS
                try:
                    self.store.workers.beat(self.name, watch.job.id)
                except DatabaseError as exc:
                    log.warning("worker %s: could not beat (%s)", self.name, exc.orig)
            if time.monotonic() < next_renewal:
                continue
            next_renewal = time.monotonic() + self._renew_every
            try:
                signal = self.store.queue.heartbeat(watch.job)
            except DatabaseError as exc:
                log.warning("job %s: could not renew the lease (%s)", watch.job.id, exc.orig)
                continue
            if not signal.lease_held:
                watch.stop(StopReason.LEASE_LOST)
            elif signal.cancel_requested:
                watch.stop(StopReason.CANCEL)

    def _keep_waiting(self, waiting: _Waiting) -> None:
        """Renew the leases of a batch's jobs until each one's turn comes."""
        while not waiting.done.wait(self._renew_every):
            for job in waiting.still_waiting():
                try:
                    signal = self.store.queue.heartbeat(job)
                except DatabaseError as exc:
                    log.warning("job %s: could not renew the lease (%s)", job.id, exc.orig)
                    continue
                if not signal.lease_held:
                    waiting.lose(job)

    def _stopped(self, job: JobInfo, watch: _Watch) -> None:
        reason = watch.reason
        if reason is StopReason.SHUTDOWN:
            self.store.queue.release(job)
        elif reason is StopReason.TIMEOUT:
            minutes = job.timeout_seconds / 60
            self.store.queue.fail(
                job,
                f"This job ran past its time limit of {minutes:g} minutes, so I stopped it.",
                retry=False,
            )
        elif reason is StopReason.CANCEL:
            self.store.queue.mark_cancelled(job)
        # LEASE_LOST: another worker owns the job now; whatever we had is dropped.

    def _train_together(self, jobs: list[JobInfo]) -> None:
        """Train claimed jobs as one program; each keeps its own lease, progress and cancel,
        and each ends on its own (stored, failed, cancelled, handed back)."""
        watches = {job.id: _Watch(job, deadline=time.monotonic() + job.timeout_seconds)
                   for job in jobs}  # fmt: skip
        keepers = [
            threading.Thread(target=self._keep_lease, args=(watch,), daemon=True)
            for watch in watches.values()
        ]
        for keeper in keepers:
            keeper.start()
        try:
            self.store.workers.beat(self.name, jobs[0].id)
            inputs: list[tuple[JobInfo, TrainInput]] = []
            for job in jobs:
                content = self.store.records.dataset_content(job.chat_id, job.dataset_id or -1)
                if content is None:
                    self._end(job, watches[job.id], JobFailure(GONE_UPLOAD))
                    continue
                params = TrainParams.from_dict(job.params)
                on_progress = self._progress_reporter(job, watches[job.id])
                inputs.append((job, TrainInput(content, params, on_progress)))
            for (job, _), outcome in zip(inputs, self._run_training(inputs), strict=True):
                self._end(job, watches[job.id], outcome)
        finally:
            for watch in watches.values():
                watch.finished.set()
            for keeper in keepers:
                keeper.join()
            self.store.workers.beat(self.name, None)
            self._last_beat = time.monotonic()

    def _run_training(self, inputs: list[tuple[JobInfo, TrainInput]]) -> list[Trained | Exception]:
        if self.train_task is train_model and len(inputs) > 1:
            return train_models([job_input for _, job_input in inputs], self.settings)
        outcomes: list[Trained | Exception] = []
        for _, job_input in inputs:
            try:
                outcomes.append(
                    self.train_task(
                        job_input.content, job_input.params, job_input.on_progress, self.settings
                    )
                )
            except Exception as error:
                outcomes.append(error)
        return outcomes

    def _end(self, job: JobInfo, watch: _Watch, outcome: Trained | Exception) -> None:
        """Store a training's outcome, as `process` does for a single job."""
        extra = {"job_id": job.id, "chat_id": job.chat_id, "worker": self.name}
        try:
            if isinstance(outcome, Exception):
                raise outcome
            if self._store_training(job, outcome) and outcome.predictor is not None:
                model = self.store.records.active_model(job.chat_id)
                if model is not None and model.job_id == job.id:
                    self.models.put(model.id, outcome.predictor)
        except Cancelled:
            if not watch.ended:
                self._stopped(job, watch)
        except (JobFailure, DatasetError, PredictError) as failure:
            self.store.queue.fail(job, str(failure), retry=False)
        except DatabaseError:
            raise
        except Exception:
            log.error("job %s crashed:\n%s", job.id, traceback.format_exc(), extra=extra)
            self.store.queue.fail(job, "Something went wrong on my side while running this job.")

    def _progress_reporter(self, job: JobInfo, watch: _Watch) -> Callable[[Progress], bool]:
        """The job's progress callback: records progress, and says False once it must stop."""

        def on_progress(progress: Progress) -> bool:
            if watch.reason is not None:
                self._end_stopped(job, watch)
                return False
            try:
                signal = self.store.queue.record_progress(
                    job,
                    epoch=progress.epoch,
                    total=progress.total_epochs,
                    loss=progress.loss,
                    val_loss=progress.val_loss,
                    eta_seconds=progress.eta_seconds,
                )
            except DatabaseError as exc:
                # One lost progress report is not worth the training: the chat sees the next
                # one, and the keeper renews the lease on its own (tolerating the same error).
                log.warning("job %s: could not record progress (%s)", job.id, exc.orig)
            else:
                if not signal.lease_held:
                    watch.stop(StopReason.LEASE_LOST)
                elif signal.cancel_requested:
                    watch.stop(StopReason.CANCEL)
            if time.monotonic() > watch.deadline:
                watch.stop(StopReason.TIMEOUT)
            if watch.reason is not None:
                self._end_stopped(job, watch)
            return watch.reason is None

        return on_progress

    def _end_stopped(self, job: JobInfo, watch: _Watch) -> None:
        """Store a cancel or timeout at once, not when the rest of its batch is done; a
        shutdown hands every job back together, at the end."""
        if watch.ended or watch.reason in (None, StopReason.SHUTDOWN, StopReason.LEASE_LOST):
            return
        watch.ended = True
        self._stopped(job, watch)

    def _store_training(self, job: JobInfo, trained: Trained) -> bool:
        """Store the model with its reply; if the database refuses the whole, the model alone.

        A database that is away is another matter: that error goes up, and the job runs
        again once the lease runs out.
        """
        try:
            return self._complete_training(job, trained)
        except DatabaseError as exc:
            if database_away(exc):
                raise
            log.error(
                "job %s: the database refused the results (%s); storing the model alone",
                job.id,
                exc.orig,
                extra={"job_id": job.id},
            )
        try:
            return self._complete_training(job, trained.bare())
        except DatabaseError as exc:
            if database_away(exc):
                raise
            raise JobFailure(
                "I trained the model, but could not store it. Please try again later."
            ) from exc

    def _complete_training(self, job: JobInfo, trained: Trained) -> bool:
        summary = trained.summary
        artifacts, messages = [], []
        if trained.plot_png is not None:
            filename = f"job-{job.id}-plot.png"
            artifacts.append(NewArtifact("plot", "plot", filename, "image/png", trained.plot_png))
            names = {
                "target_name": summary.get("target_name"),
                "feature_names": summary.get("feature_names"),
            }
            messages.append(NewMessage("train_plot", names, "plot"))
        messages.append(NewMessage("train_summary", summary))
        return self.store.queue.complete(
            job, result=summary, model=trained.model, artifacts=artifacts, messages=messages
        )

    def _predict(self, job: JobInfo) -> None:
        version, predictor = self._predictor(job)
        if job.params.get("csv"):
            content = self.store.records.dataset_content(job.chat_id, job.dataset_id or -1)
            if content is None:
                raise JobFailure("The uploaded file of this job is gone.")
            predicted = predictor.predict_table(content, self.settings.limits)
            table, rows = predicted.data, predicted.rows
            self.store.queue.complete(
                job,
                result={"rows": rows, "model_version": version},
                artifacts=[
                    NewArtifact(
                        "csv", "predictions", f"predictions-{job.id}.csv", "text/csv", table
                    )
                ],
                messages=[
                    NewMessage(
                        "predictions_csv",
                        {"rows": rows, "model_version": version, "notes": predicted.notes},
                        "csv",
                    )
                ],
            )
            return
        predictions = predictor.predict(job.params.get("values", []))
        payload = {
            "model_version": version,
            "feature_names": list(predictor.feature_names),
            "target_name": predictor.target_name,
            "predictions": [prediction_dict(p) for p in predictions],
        }
        self.store.queue.complete(
            job, result=payload, messages=[NewMessage("predictions", payload)]
        )

    def _predictor(self, job: JobInfo) -> tuple[int, Predictor]:
        """The job's model (its chat's version number and a loaded predictor)."""
        gone = JobFailure("That model no longer exists; train a new one with /train.")
        if job.model_id is None:
            raise gone
        # Asked every time (a small row, no file) so a deleted model stops answering at once.
        model = self.store.records.model_by_id(job.chat_id, job.model_id)
        if model is None:
            raise gone
        predictor = self.models.get(model.id)
        if predictor is None:
            keras_file = self.store.records.model_file(job.chat_id, model.id)
            if keras_file is None:
                raise gone
            predictor = Predictor(
                keras_file,
                model.scaling,
                model.feature_names,
                model.target_name,
                model.feature_ranges,
            )
            self.models.put(model.id, predictor)
        return model.version, predictor
