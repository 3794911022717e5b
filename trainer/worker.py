"""The trainer worker: claims train and predict jobs from storage and writes back results.

It never talks to Telegram: everything the chat should see goes to the outbox.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import socket
import threading
import time
import traceback
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import DBAPIError

from storage.models import Job, JobKind
from storage.queue import NewArtifact, NewMessage, NewModel
from storage.store import Store
from trainbot.settings import Settings
from trainer import backend
from trainer.dataset import DatasetError, parse_csv
from trainer.fit import Cancelled, Progress, TrainResult, train
from trainer.params import TrainParams
from trainer.plots import render_report_png
from trainer.predictor import PredictError, Prediction, Predictor, save_model_bytes

log = logging.getLogger(__name__)

REGISTRY_BEAT_SECONDS = 5.0
DB_RETRY_MAX_SECONDS = 10.0
KEEPER_TICK_SECONDS = 0.05
# Predictions claimed together. Each keeps its lease while it waits its turn, so a batch must
# finish well within the lease even when every model in it has to be loaded first.
PREDICT_BATCH = 8


class StopReason(enum.Enum):
    CANCEL = "cancel"
    LEASE_LOST = "lease_lost"
    TIMEOUT = "timeout"
    SHUTDOWN = "shutdown"


class JobFailure(Exception):
    """A failure the chat should hear about in one sentence, not worth retrying."""


@dataclass
class _Watch:
    """What the lease keeper and the training callback tell each other about a running job."""

    job: Job
    deadline: float
    reason: StopReason | None = None
    finished: threading.Event = field(default_factory=threading.Event)

    def stop(self, reason: StopReason) -> None:
        if self.reason is None:
            self.reason = reason


class ModelCache:
    """Recently used predictors, so a `/predict` does not reload its model from the database."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[int, Predictor] = OrderedDict()

    def get(self, model_id: int) -> Predictor | None:
        predictor = self._items.get(model_id)
        if predictor is not None:
            self._items.move_to_end(model_id)
        return predictor

    def put(self, model_id: int, predictor: Predictor) -> None:
        if self.size <= 0:
            return
        self._items[model_id] = predictor
        self._items.move_to_end(model_id)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


class Worker:
    """Claims jobs one at a time until asked to stop."""

    def __init__(self, store: Store, settings: Settings, *, name: str | None = None) -> None:
        self.store = store
        self.settings = settings
        self.name = name or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:4]}"
        self.models = ModelCache(settings.model_cache_size)
        self._stop = threading.Event()
        self._last_reclaim = 0.0
        self._last_beat = 0.0
        self._configured = False

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
        outage = 0
        try:
            while not self._stop.is_set():
                try:
                    if not self.run_once():
                        self.store.queue.wait_for_work(self.settings.poll_interval)
                    outage = 0
                except DBAPIError as exc:
                    # The database is away (restart, network): wait and carry on; any job in
                    # hand comes back to the queue when its lease runs out.
                    outage += 1
                    delay = min(DB_RETRY_MAX_SECONDS, 0.5 * 2 ** min(outage, 6))
                    log.warning("database unavailable (%s); retrying in %.1f s", exc.orig, delay)
                    self._stop.wait(delay)
        finally:
            with contextlib.suppress(DBAPIError):
                self.store.workers.stopped(self.name)
            log.info("worker %s stopped", self.name)

    def run_once(self) -> bool:
        """Claim and process the next job, with the predictions waiting behind it; False if none.

        Predictions take milliseconds, so claiming and registering them one at a time would
        cost more than answering them; a batch shares those round trips. Training is claimed
        one job at a time, so that other workers can take the jobs behind it.
        """
        self._configure()
        self._housekeeping()
        queue = self.store.queue
        job = queue.claim(self.name)
        if job is None:
            return False
        jobs = [job]
        if job.kind == JobKind.PREDICT:
            # Predictions come first in the queue, so the ones behind this one are its batch.
            jobs += queue.claim_batch(self.name, (JobKind.PREDICT,), limit=PREDICT_BATCH - 1)
        self.store.workers.beat(self.name, jobs[0].id)
        try:
            for job in jobs:
                self.process(job)
        finally:
            self.store.workers.beat(self.name, None)
            self._last_beat = time.monotonic()
        return True

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
            self._configured = True

    def _housekeeping(self) -> None:
        now = time.monotonic()
        if now - self._last_reclaim >= self.settings.lease_seconds / 2:
            self.store.queue.reclaim_expired()
            self._last_reclaim = now
        if now - self._last_beat >= REGISTRY_BEAT_SECONDS:
            self.store.workers.beat(self.name, None)
            self._last_beat = now

    # -- one job -----------------------------------------------------------------------------

    def process(self, job: Job) -> None:
        extra = {"job_id": job.id, "chat_id": job.chat_id, "worker": self.name}
        watch = _Watch(job, deadline=time.monotonic() + job.timeout_seconds)
        keeper = threading.Thread(target=self._keep_lease, args=(watch,), daemon=True)
        keeper.start()
        try:
            if job.kind == JobKind.TRAIN:
                self._train(job, watch)
            else:
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

    def _keep_lease(self, watch: _Watch) -> None:
        """Renew the lease while the job runs, and notice cancel, timeout and shutdown.

        It wakes every tick rather than every renewal so that it lets go of a finished job
        at once: the worker waits for it before taking the next job.
        """
        renew_every = max(self.settings.lease_seconds / 3, KEEPER_TICK_SECONDS)
        next_renewal = time.monotonic() + renew_every
        while not watch.finished.wait(KEEPER_TICK_SECONDS):
            if self._stop.is_set():
                watch.stop(StopReason.SHUTDOWN)
            elif time.monotonic() > watch.deadline:
                watch.stop(StopReason.TIMEOUT)
            if watch.reason is not None:
                return
            if time.monotonic() < next_renewal:
                continue
            next_renewal = time.monotonic() + renew_every
            try:
                signal = self.store.queue.heartbeat(watch.job)
            except DBAPIError as exc:
                log.warning("job %s: could not renew the lease (%s)", watch.job.id, exc.orig)
                continue
            if not signal.lease_held:
                watch.stop(StopReason.LEASE_LOST)
            elif signal.cancel_requested:
                watch.stop(StopReason.CANCEL)

    def _stopped(self, job: Job, watch: _Watch) -> None:
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

    def _train(self, job: Job, watch: _Watch) -> None:
        params = TrainParams.from_dict(job.params)
        content = self.store.records.dataset_content(job.chat_id, job.dataset_id or -1)
        if content is None:
            raise JobFailure("The uploaded file of this job is gone, so I cannot train on it.")
        dataset = parse_csv(content, x=params.x, y=params.y, limits=self.settings.limits)

        def on_progress(progress: Progress) -> bool:
            if watch.reason is not None:
                return False
            signal = self.store.queue.record_progress(
                job,
                epoch=progress.epoch,
                total=progress.total_epochs,
                loss=progress.loss,
                val_loss=progress.val_loss,
                eta_seconds=progress.eta_seconds,
            )
            if not signal.lease_held:
                watch.stop(StopReason.LEASE_LOST)
            elif signal.cancel_requested:
                watch.stop(StopReason.CANCEL)
            if time.monotonic() > watch.deadline:
                watch.stop(StopReason.TIMEOUT)
            return watch.reason is None

        result = train(
            dataset,
            params,
            limits=self.settings.limits,
            on_progress=on_progress,
            progress_interval=self.settings.progress_interval,
        )
        keras_file = save_model_bytes(result)
        predictor = Predictor.from_result(result)
        predictions = predictor.predict(params.predict)
        png = render_report_png(dataset, result, predictions)
        summary = _train_summary(result, predictions, dataset.n_rows)
        stored = self.store.queue.complete(
            job,
            result=summary,
            model=NewModel(
                keras_file=keras_file,
                scaling=result.scaling,
                feature_names=list(result.feature_names),
                target_name=result.target_name,
                feature_ranges=[list(r) for r in result.feature_ranges],
                metrics={
                    "train": result.metrics["train"],
                    "validation": result.metrics.get("validation"),
                },
                backend=result.backend,
                device=result.device,
            ),
            artifacts=[NewArtifact("plot", "plot", f"job-{job.id}-plot.png", "image/png", png)],
            messages=[
                NewMessage(
                    "train_plot",
                    {
                        "target_name": result.target_name,
                        "feature_names": list(result.feature_names),
                    },
                    "plot",
                ),
                NewMessage("train_summary", summary),
            ],
        )
        if stored:
            model = self.store.records.active_model(job.chat_id)
            if model is not None and model.job_id == job.id:
                self.models.put(model.id, predictor)

    def _predict(self, job: Job) -> None:
        version, predictor = self._predictor(job)
        if job.params.get("csv"):
            content = self.store.records.dataset_content(job.chat_id, job.dataset_id or -1)
            if content is None:
                raise JobFailure("The uploaded file of this job is gone.")
            table = predictor.predict_csv(content, self.settings.limits)
            rows = max(table.count(b"\n") - 1, 0)
            self.store.queue.complete(
                job,
                result={"rows": rows, "model_version": version},
                artifacts=[
                    NewArtifact(
                        "csv", "predictions", f"predictions-{job.id}.csv", "text/csv", table
                    )
                ],
                messages=[
                    NewMessage("predictions_csv", {"rows": rows, "model_version": version}, "csv")
                ],
            )
            return
        predictions = predictor.predict(job.params.get("values", []))
        payload = {
            "model_version": version,
            "feature_names": list(predictor.feature_names),
            "target_name": predictor.target_name,
            "predictions": [_prediction_dict(p) for p in predictions],
        }
        self.store.queue.complete(
            job, result=payload, messages=[NewMessage("predictions", payload)]
        )

    def _predictor(self, job: Job) -> tuple[int, Predictor]:
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


def _prediction_dict(prediction: Prediction) -> dict[str, Any]:
    return {
        "inputs": list(prediction.values),
        "value": prediction.predicted,
        "warning": prediction.warning,
    }


def _train_summary(
    result: TrainResult, predictions: list[Prediction], n_rows: int
) -> dict[str, Any]:
    return {
        "n_rows": n_rows,
        "feature_names": list(result.feature_names),
        "target_name": result.target_name,
        "metrics": result.metrics,
        "baseline": result.baseline_metrics,
        "beats_baseline": bool(result.beats_baseline),
        "verdict": result.verdict,
        "predictions": [_prediction_dict(p) for p in predictions],
        "fit_seconds": round(float(result.fit_seconds), 3),
        "epochs_run": int(result.epochs_run),
        "backend": result.backend,
        "device": result.device,
    }
