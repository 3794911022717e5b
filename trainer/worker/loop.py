"""The trainer worker: claims train and predict jobs from storage and writes back results.

It never talks to Telegram: everything the chat should see goes to the outbox.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Sequence

from storage.errors import DatabaseError
from storage.models import JobKind
from storage.store import Store
from storage.views import JobInfo
from trainbot.settings import Settings
from trainer import backend, words
from trainer.errors import DatasetError, JobFailure, PredictError
from trainer.learn.recipes import resolve
from trainer.params import TrainParams
from trainer.progress import Cancelled, Progress, turn
from trainer.worker.leases import (
    REGISTRY_BEAT_SECONDS,
    LeaseKeeper,
    StopReason,
    Waiting,
    Watch,
    record_progress,
)
from trainer.worker.outcomes import TrainedJob, TrainInput, TrainTask, store_training
from trainer.worker.predictors import PredictorCache

log = logging.getLogger(__name__)

DB_RETRY_MAX_SECONDS = 10.0
# Predictions claimed together. Each keeps its lease while it waits its turn, so a batch must
# finish well within the lease even when every model in it has to be loaded first.
PREDICT_BATCH = 8
# Training jobs claimed together and trained as one program (trainer.learn.batch), by device:
# on a CPU the program's cost grows with its members, on a GPU it hardly does.
TRAIN_BATCH = {"cpu": 8, "gpu": 64}
ALL_KINDS: tuple[JobKind, ...] = (JobKind.PREDICT, JobKind.TRAIN)


class Worker:
    """Claims jobs until asked to stop, in a lane per kind of job.

    With both kinds (the default) predictions have a lane of their own, a thread beside the
    training lane, so a `/predict` never waits behind a training. The training lane claims
    up to `train_batch` waiting jobs at once and trains them together.

    What a job computes lives in trainer.worker.tasks, plain functions from the job's input to what
    to store; the worker around them does the bookkeeping: leases, progress, cancel,
    timeouts, results. The ML stack (Keras) loads with the first job, not with the worker, so
    a worker comes up (and registers) in well under a second. `train_task` stands in for the
    training itself (tests of the bookkeeping); by default batches train as one program.
    """

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        name: str | None = None,
        kinds: Sequence[JobKind] = ALL_KINDS,
        train_batch: int | None = None,
        train_task: TrainTask | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.name = name or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:4]}"
        self.kinds = tuple(kinds)
        self._train_batch = train_batch
        self.train_task = train_task
        self.predictors = PredictorCache(settings.model_cache_size)
        self._stop = threading.Event()
        self.leases = LeaseKeeper(
            store,
            self.name,
            lease_seconds=settings.lease_seconds,
            stopping=lambda: self._stop.is_set(),
        )
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
        lane = tuple(kinds or self.kinds)
        # The prediction lane takes its whole batch in one statement: each round trip to the
        # database is a good share of a `/predict`'s few milliseconds.
        first = PREDICT_BATCH if lane == (JobKind.PREDICT,) else 1
        claimed = queue.claim_batch(self.name, lane, limit=first)
        if not claimed:
            return False
        job = claimed[0]
        if job.kind == JobKind.TRAIN:
            batch = [job]
            if self._batchable(job):
                for other in queue.claim_batch(
                    self.name, (JobKind.TRAIN,), limit=self.train_batch - 1
                ):
                    if self._batchable(other):
                        batch.append(other)
                    else:
                        # A recipe of one network, or a retry, trains alone: back in the queue
                        # it can go to another worker instead of waiting here.
                        queue.release(other)
            self._train(batch)
            return True
        jobs = claimed
        if first == 1:
            # Predictions come first in the queue, so the ones behind this one are its batch.
            jobs += queue.claim_batch(self.name, (JobKind.PREDICT,), limit=PREDICT_BATCH - 1)
        # Every claimed job's lease is held: the one running has its keeper, and the ones
        # waiting behind it are renewed by one thread until their turn comes.
        waiting = Waiting(jobs[1:])
        renewer = self.leases.keep_waiting(waiting) if waiting else None
        # No registry beat around a batch of predictions (two more writes): it lasts
        # milliseconds, and housekeeping beats every REGISTRY_BEAT_SECONDS anyway.
        try:
            for job in jobs:
                if waiting.take(job):
                    self.process(job)
                else:
                    log.warning("job %s: lease lost while waiting its turn", job.id)
        finally:
            waiting.done.set()
            if renewer is not None:
                renewer.join()
        return True

    def _batchable(self, job: JobInfo) -> bool:
        """Whether a training job can share a program with others: its recipe can, and it is
        on its first attempt. A job claimed again after its worker died (out of memory, say)
        may be what killed it: alone, it cannot take its batchmates down with it again."""
        if job.attempts > 1:
            return False
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
            now = time.monotonic()
            if now - self._last_reclaim >= self.settings.lease_seconds / 2:
                self.store.queue.reclaim_expired()
                self._last_reclaim = now
            if now - self._last_beat >= REGISTRY_BEAT_SECONDS:
                self._beat_idle()

    def _beat_idle(self) -> None:
        self.store.workers.beat(self.name, None)
        self._last_beat = time.monotonic()

    # -- one job -----------------------------------------------------------------------------

    def process(self, job: JobInfo) -> None:
        """Run one claimed job to its end (a training as a batch of one)."""
        if job.kind == JobKind.TRAIN:
            self._train([job])
            return
        watch = Watch.start(job)
        keeper = self.leases.keep(watch)
        try:
            self._ended(job, watch, lambda: self._predict(job))
        finally:
            watch.finished.set()
            keeper.join()

    def _ended(self, job: JobInfo, watch: Watch, run: Callable[[], object]) -> None:
        """Run a job's last step and record how the job ended: its result is stored by `run`,
        a stop, a failure worded for the chat, or a crash (retried while attempts remain).
        A database that is away is another matter: that error goes up to the lane."""
        try:
            run()
        except Cancelled:
            if not watch.ended:
                self._stopped(job, watch)
        except (JobFailure, DatasetError, PredictError) as failure:
            self.store.queue.fail(job, str(failure), retry=False)
        except DatabaseError:
            raise
        except Exception:
            log.error(
                "job %s crashed:\n%s", job.id, traceback.format_exc(),
                extra={"job_id": job.id, "chat_id": job.chat_id, "worker": self.name},
            )  # fmt: skip
            self.store.queue.fail(job, words.CRASHED)

    def _stopped(self, job: JobInfo, watch: Watch) -> None:
        reason = watch.reason
        if reason is StopReason.SHUTDOWN:
            self.store.queue.release(job)
        elif reason is StopReason.TIMEOUT:
            self.store.queue.fail(job, words.past_time_limit(job.timeout_seconds), retry=False)
        elif reason is StopReason.CANCEL:
            self.store.queue.mark_cancelled(job)
        elif reason is StopReason.LEASE_LOST:
            # Another worker owns the job now (this one stalled, or was cut off from the
            # database past its lease): whatever this one had is dropped.
            log.warning("job %s: lease lost to another worker; nothing stored", job.id,
                        extra={"job_id": job.id, "worker": self.name})  # fmt: skip

    # -- training ----------------------------------------------------------------------------

    def _train(self, jobs: list[JobInfo]) -> None:
        """Train claimed jobs as one program; each keeps its own lease, progress and cancel,
        and each ends on its own (stored, failed, cancelled, handed back)."""
        watches = {job.id: Watch.start(job) for job in jobs}
        keepers = [self.leases.keep(watch) for watch in watches.values()]
        try:
            self.store.workers.beat(self.name, jobs[0].id)
            inputs: list[tuple[JobInfo, TrainInput]] = []
            for job in jobs:
                content = self.store.records.dataset_content(job.chat_id, job.dataset_id or -1)
                if content is None:
                    self.store.queue.fail(job, words.GONE_UPLOAD, retry=False)
                    continue
                params = TrainParams.from_dict(job.params)
                on_progress = self._progress_reporter(job, watches[job.id])
                inputs.append((job, TrainInput(content, params, on_progress, watches[job.id])))
            for (job, _), outcome in zip(inputs, self._run_training(inputs), strict=True):
                self._ended(job, watches[job.id], lambda job=job, o=outcome: self._keep(job, o))
        finally:
            for watch in watches.values():
                watch.finished.set()
            for keeper in keepers:
                keeper.join()
            self._beat_idle()

    def _run_training(
        self, inputs: list[tuple[JobInfo, TrainInput]]
    ) -> list[TrainedJob | Exception]:
        task = self.train_task
        if task is None:
            from trainer.worker.tasks import train_model, train_models  # the ML stack loads here

            if len(inputs) > 1:
                return train_models([job_input for _, job_input in inputs], self.settings)
            task = train_model
        outcomes: list[TrainedJob | Exception] = []
        clocks = [job_input.clock for _, job_input in inputs]
        for index, (_, job_input) in enumerate(inputs):
            content, params, on_progress = (
                job_input.content,
                job_input.params,
                job_input.on_progress,
            )
            try:
                # One after another: each job's time limit counts its own training alone.
                with turn(clocks, {index}):
                    outcomes.append(task(content, params, on_progress, self.settings))
            except Exception as error:
                outcomes.append(error)
        return outcomes

    def _keep(self, job: JobInfo, outcome: TrainedJob | Exception) -> None:
        """Store a training's outcome, and put the new model in the cache for `/predict`."""
        if isinstance(outcome, Exception):
            raise outcome
        if store_training(self.store, job, outcome) and outcome.predictor is not None:
            model = self.store.records.active_model(job.chat_id)
            if model is not None and model.job_id == job.id:
                self.predictors.put(model.id, outcome.predictor)

    def _progress_reporter(self, job: JobInfo, watch: Watch) -> Callable[[Progress], bool]:
        """The job's progress callback: records progress, and says False once it must stop."""

        def on_progress(progress: Progress) -> bool:
            if watch.reason is None:
                record_progress(self.store, watch, progress)
            if watch.reason is not None:
                self._end_stopped(job, watch)
            return watch.reason is None

        return on_progress

    def _end_stopped(self, job: JobInfo, watch: Watch) -> None:
        """Store a cancel or timeout at once, not when the rest of its batch is done; a
        shutdown hands every job back together, at the end."""
        if watch.ended or watch.reason in (None, StopReason.SHUTDOWN, StopReason.LEASE_LOST):
            return
        watch.ended = True
        self._stopped(job, watch)

    # -- prediction --------------------------------------------------------------------------

    def _predict(self, job: JobInfo) -> None:
        from trainer.worker.tasks import predict_csv, predict_values

        version, predictor = self.predictors.for_job(self.store, job)
        if job.params.get("csv"):
            content = self.store.records.dataset_content(job.chat_id, job.dataset_id or -1)
            if content is None:
                raise JobFailure(words.GONE_INPUTS)
            answer = predict_csv(predictor, version, content, job.id, self.settings.limits)
        else:
            answer = predict_values(predictor, version, job.params.get("values", []))
        self.store.queue.complete(
            job, result=answer.result, artifacts=answer.artifacts, messages=answer.messages
        )
