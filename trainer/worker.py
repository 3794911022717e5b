"""The trainer worker: claims train and predict jobs from storage and writes back results.

It never talks to Telegram: everything the chat should see goes to the outbox.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import logging
import math
import os
import socket
import threading
import time
import traceback
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from storage.models import Job, JobKind
from storage.queue import NewArtifact, NewMessage, NewModel
from storage.store import Store
from storage.workers import BEAT_SECONDS
from trainbot.settings import Settings
from trainer import backend
from trainer.dataset import DatasetError, parse_csv
from trainer.fit import Cancelled, Progress, TrainResult, train
from trainer.params import TrainParams
from trainer.plots import render_report_png
from trainer.predictor import PredictError, Prediction, Predictor, save_model_bytes

T = TypeVar("T")

log = logging.getLogger(__name__)

REGISTRY_BEAT_SECONDS = BEAT_SECONDS
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


# The parts of a training's reply that a failing step after the fit can cost; the summary's
# "missing" list names them, and the bot says so (bot/texts.py).
PLOT, PREDICTIONS, DETAILS = "plot", "predictions", "details"


@dataclass(frozen=True)
class Trained:
    """What a training task hands the worker: the model to store and the chat's reply.

    `plot_png` and `predictor` are None when the step that makes them failed; the summary's
    "missing" list then says what the chat does not get.
    """

    model: NewModel
    summary: dict[str, Any]
    plot_png: bytes | None = None
    predictor: Predictor | None = None

    def bare(self) -> Trained:
        """The model and a summary of the basics only: what is left to store when the database
        refuses the full result."""
        basics = ("n_rows", "feature_names", "target_name", "epochs_run", "fit_seconds")
        summary = {key: self.summary[key] for key in basics if key in self.summary}
        summary["missing"] = _missing(self.summary.get("missing", []), PLOT, DETAILS)
        if self.summary.get("predictions"):
            summary["missing"] = _missing(summary["missing"], PREDICTIONS)
        return dataclasses.replace(self, summary=summary, plot_png=None)


# A training task: (CSV bytes, parameters, progress callback, settings) -> what to store.
# The callback returns False when the training should stop (the task raises Cancelled then).
TrainTask = Callable[[bytes, TrainParams, Callable[[Progress], bool], Settings], Trained]


def train_model(
    content: bytes,
    params: TrainParams,
    on_progress: Callable[[Progress], bool],
    settings: Settings,
) -> Trained:
    """Parse the CSV, fit the model, then make the reply: predictions, plot and summary.

    Once the fit is done the model is what matters: a step after it that fails (predictions,
    plot, summary) costs only its own part of the reply, named in the summary's "missing".
    Raising instead would retry the job, and a retry trains again from the start only to fail
    at the same step (a column named `$y^$` cost three full trainings that way).
    """
    dataset = parse_csv(content, x=params.x, y=params.y, sheet=params.sheet, limits=settings.limits)
    result = train(
        dataset,
        params,
        limits=settings.limits,
        on_progress=on_progress,
        progress_interval=settings.progress_interval,
    )
    # Without its file there is no model to keep: this one failure still fails the job.
    keras_file = save_model_bytes(result, dataset.column_plan)
    missing: list[str] = []
    # The predictor answers the predictions asked with /train, and goes to the model cache.
    predictor = _after_fit([], "predictor", lambda: Predictor.from_result(result, dataset.plan))
    predictions: list[Prediction] = []
    if params.predict:
        if predictor is None:
            missing.append(PREDICTIONS)
        else:
            asked = params.predict
            predictions = _after_fit(missing, PREDICTIONS, lambda: predictor.predict(asked)) or []
    png = _after_fit(missing, PLOT, lambda: render_report_png(dataset, result, predictions))
    summary = _after_fit(
        missing,
        DETAILS,
        lambda: {**_train_summary(result, predictions, dataset.n_rows), **dataset.summary()},
    ) or {
        "n_rows": dataset.n_rows,
        "feature_names": list(dataset.input_names),
        "target_name": result.target_name,
    }
    if missing:
        summary["missing"] = missing
    return Trained(
        model=NewModel(
            keras_file=keras_file,
            # The column plan travels with the model, under "columns".
            scaling=_json_safe({**result.scaling, "columns": dataset.column_plan.to_dict()}),
            feature_names=list(result.feature_names),
            target_name=result.target_name,
            feature_ranges=[list(r) for r in result.feature_ranges],
            metrics=_json_safe(
                {"train": result.metrics["train"], "validation": result.metrics.get("validation")}
            ),
            backend=result.backend,
            device=result.device,
        ),
        summary=_json_safe(summary),
        plot_png=png,
        predictor=predictor,
    )


def _after_fit(missing: list[str], part: str, step: Callable[[], T]) -> T | None:
    """Run a step after the fit; if it fails, log why, note `part` as missing and go on."""
    try:
        return step()
    except Exception:
        log.error("making the %s failed after training:\n%s", part, traceback.format_exc())
        if part not in missing:
            missing.append(part)
        return None


def _missing(missing: Iterable[str], *parts: str) -> list[str]:
    return list(dict.fromkeys([*missing, *parts]))


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


class _Waiting:
    """The claimed jobs of a batch that wait their turn; their leases are renewed meanwhile."""

    def __init__(self, jobs: Iterable[Job]) -> None:
        self._jobs = {job.id: job for job in jobs}
        self._lost: set[int] = set()
        self._lock = threading.Lock()
        self.done = threading.Event()

    def __bool__(self) -> bool:
        with self._lock:
            return bool(self._jobs)

    def take(self, job: Job) -> bool:
        """Stop renewing `job`, whose turn has come; False if its lease was lost meanwhile."""
        with self._lock:
            self._jobs.pop(job.id, None)
            return job.id not in self._lost

    def still_waiting(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def lose(self, job: Job) -> None:
        with self._lock:
            if self._jobs.pop(job.id, None) is not None:
                self._lost.add(job.id)


class Worker:
    """Claims jobs one at a time until asked to stop.

    `train_task` turns a training job's input into what to store (`train_model` by default);
    the worker around it does the bookkeeping: leases, progress, cancel, timeouts, results.
    """

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        name: str | None = None,
        train_task: TrainTask = train_model,
    ) -> None:
        self.store = store
        self.settings = settings
        self.name = name or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:4]}"
        self.train_task = train_task
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
                        # Back in time for the next registry beat, however long the poll.
                        wait = min(self.settings.poll_interval, REGISTRY_BEAT_SECONDS)
                        self.store.queue.wait_for_work(wait)
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
                except DBAPIError as exc:
                    log.warning("worker %s: could not beat (%s)", self.name, exc.orig)
            if time.monotonic() < next_renewal:
                continue
            next_renewal = time.monotonic() + self._renew_every
            try:
                signal = self.store.queue.heartbeat(watch.job)
            except DBAPIError as exc:
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
                except DBAPIError as exc:
                    log.warning("job %s: could not renew the lease (%s)", job.id, exc.orig)
                    continue
                if not signal.lease_held:
                    waiting.lose(job)

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

        def on_progress(progress: Progress) -> bool:
            if watch.reason is not None:
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
            except DBAPIError as exc:
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
            return watch.reason is None

        trained = self.train_task(content, params, on_progress, self.settings)
        if self._store_training(job, trained) and trained.predictor is not None:
            model = self.store.records.active_model(job.chat_id)
            if model is not None and model.job_id == job.id:
                self.models.put(model.id, trained.predictor)

    def _store_training(self, job: Job, trained: Trained) -> bool:
        """Store the model with its reply; if the database refuses the whole, the model alone.

        A database that is away is another matter: that error goes up, and the job runs
        again once the lease runs out.
        """
        try:
            return self._complete_training(job, trained)
        except DBAPIError as exc:
            if _database_away(exc):
                raise
            log.error(
                "job %s: the database refused the results (%s); storing the model alone",
                job.id,
                exc.orig,
                extra={"job_id": job.id},
            )
        try:
            return self._complete_training(job, trained.bare())
        except DBAPIError as exc:
            if _database_away(exc):
                raise
            raise JobFailure(
                "I trained the model, but could not store it. Please try again later."
            ) from exc

    def _complete_training(self, job: Job, trained: Trained) -> bool:
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

    def _predict(self, job: Job) -> None:
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
        "inputs": list(prediction.inputs or prediction.values),
        "names": list(prediction.names),
        "value": prediction.predicted,
        "warning": prediction.warning,
    }


def _database_away(exc: DBAPIError) -> bool:
    """Whether an error says the database is unreachable, rather than that it refused a value."""
    return isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated


def _json_safe(value: Any) -> Any:
    """`value` as JSON can hold it: NumPy numbers as Python ones, NaN and infinities as None
    (PostgreSQL refuses a JSON document with NaN in it, and the result would be lost)."""
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


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
        "model_kind": result.model_kind,
        "choice": result.choice,
        "validation": result.validation,
        "best_epoch": result.best_epoch,
        "predictions": [_prediction_dict(p) for p in predictions],
        "fit_seconds": round(float(result.fit_seconds), 3),
        "epochs_run": int(result.epochs_run),
        "backend": result.backend,
        "device": result.device,
    }
