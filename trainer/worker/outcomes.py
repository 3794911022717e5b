"""What a worker's tasks take and give back (trainer.worker.tasks): plain data, no Keras, and
storing a training's outcome.

Kept apart from the tasks themselves so that the worker's loop, which only moves these
around, starts without loading the ML stack.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from storage.errors import DatabaseError, database_away
from storage.results import NewArtifact, NewMessage, NewModel
from storage.store import Store
from storage.views import JobInfo
from trainbot.settings import Settings
from trainer import words
from trainer.errors import JobFailure
from trainer.params import TrainParams
from trainer.progress import Clock, Progress

if TYPE_CHECKING:
    from trainer.model_file.predictor import Predictor

log = logging.getLogger(__name__)

# The parts of a training's reply that a failing step after the fit can cost; the summary's
# "missing" list names them, and the bot says so (bot/texts.py).
PLOT, PREDICTIONS, DETAILS = "plot", "predictions", "details"


@dataclass(frozen=True)
class TrainedJob:
    """What a training task hands the worker: the model to store and the chat's reply.

    `plot_png` and `predictor` are None when the step that makes them failed; the summary's
    "missing" list then says what the chat does not get.
    """

    model: NewModel
    summary: dict[str, Any]
    plot_png: bytes | None = None
    predictor: Predictor | None = None

    def reply(self, job_id: int) -> tuple[list[NewArtifact], list[NewMessage]]:
        """The plot to keep and the chat's messages: the plot (if there is one), the summary."""
        artifacts, messages = [], []
        if self.plot_png is not None:
            filename = f"job-{job_id}-plot.png"
            artifacts.append(NewArtifact("plot", "plot", filename, "image/png", self.plot_png))
            names = {
                "target_name": self.summary.get("target_name"),
                "feature_names": self.summary.get("feature_names"),
            }
            messages.append(NewMessage("train_plot", names, "plot"))
        messages.append(NewMessage("train_summary", self.summary))
        return artifacts, messages

    def bare(self) -> TrainedJob:
        """The model and a summary of the basics only: what is left to store when the database
        refuses the full result."""
        basics = ("n_rows", "feature_names", "target_name", "epochs_run", "fit_seconds")
        summary = {key: self.summary[key] for key in basics if key in self.summary}
        summary["missing"] = missing_parts(self.summary.get("missing", []), PLOT, DETAILS)
        if self.summary.get("predictions"):
            summary["missing"] = missing_parts(summary["missing"], PREDICTIONS)
        return dataclasses.replace(self, summary=summary, plot_png=None)


# A training task: (CSV bytes, parameters, progress callback, settings) -> what to store.
# The callback returns False when the training should stop (the task raises Cancelled then).
TrainTask = Callable[[bytes, TrainParams, Callable[[Progress], bool], Settings], TrainedJob]


@dataclass(frozen=True)
class TrainInput:
    """One training job's input, as the worker hands it to ``train_models``."""

    content: bytes
    params: TrainParams
    on_progress: Callable[[Progress], bool]
    clock: Clock | None = None  # the job's time limit, paused while its batchmates train


@dataclass(frozen=True)
class Answer:
    """What a prediction job stores: its result, the chat's message and any file."""

    result: dict[str, Any]
    messages: list[NewMessage]
    artifacts: list[NewArtifact] = dataclasses.field(default_factory=list)


def missing_parts(missing: Iterable[str], *parts: str) -> list[str]:
    return list(dict.fromkeys([*missing, *parts]))


def store_training(store: Store, job: JobInfo, trained: TrainedJob) -> bool:
    """Store the model with its reply; if the database refuses the whole, the model alone.

    A database that is away is another matter: that error goes up, and the job runs again
    once the lease runs out.
    """
    try:
        return _complete(store, job, trained)
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
        return _complete(store, job, trained.bare())
    except DatabaseError as exc:
        if database_away(exc):
            raise
        raise JobFailure(words.NOT_STORED) from exc


def _complete(store: Store, job: JobInfo, trained: TrainedJob) -> bool:
    artifacts, messages = trained.reply(job.id)
    return store.queue.complete(
        job, result=trained.summary, model=trained.model, artifacts=artifacts,
        messages=messages,
    )  # fmt: skip
