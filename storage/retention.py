"""Retention: what the bot prunes every hour (and `trainbot db prune` on demand), and what it
must never touch.

Without it uploaded tables, plots, prediction tables, delivered messages, finished jobs and
old models would pile up for ever. Each kind has its own age (from the database's clock); an
age of 0 keeps that kind for ever. Whatever is still needed stays, however old: a message not
yet delivered, the file it attaches, the upload of a job that has not finished, a job whose
progress message is not yet up to date, a model a queued job will use. A chat's active model
and its newest one are never pruned (the newest also keeps the next version number new).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, exists
from sqlalchemy.orm import Session, aliased

from storage.clock import db_now
from storage.db import Database
from storage.models import (
    UNFINISHED,
    Artifact,
    Job,
    JobStatus,
    Model,
    OutboxMessage,
    ProgressMessage,
    Upload,
)

if TYPE_CHECKING:
    from trainbot.settings import Settings

DAY_SECONDS = 86_400.0
FINISHED = tuple(status for status in JobStatus if status.finished)


@dataclass(frozen=True)
class Retention:
    """How many days each kind of row is kept; 0 keeps it for ever."""

    datasets_days: float = 7.0
    artifacts_days: float = 7.0
    outbox_days: float = 7.0
    jobs_days: float = 90.0
    # Models other than a chat's active and newest one, by the time they were trained.
    models_days: float = 180.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Retention:
        return cls(
            datasets_days=settings.keep_datasets_days,
            artifacts_days=settings.keep_artifacts_days,
            outbox_days=settings.keep_outbox_days,
            jobs_days=settings.keep_jobs_days,
            models_days=settings.keep_models_days,
        )


@dataclass(frozen=True)
class Pruned:
    """How many rows of each kind a prune deleted."""

    outbox: int = 0
    jobs: int = 0
    artifacts: int = 0
    datasets: int = 0
    models: int = 0

    def __bool__(self) -> bool:
        return any((self.outbox, self.jobs, self.artifacts, self.datasets, self.models))


def prune(db: Database, retention: Retention) -> Pruned:
    """Delete what `retention` lets go, in one transaction, and say how much went."""
    with db.session() as session:
        return Pruned(
            outbox=_prune_outbox(session, retention.outbox_days),
            jobs=_prune_jobs(session, retention.jobs_days),
            artifacts=_prune_artifacts(session, retention.artifacts_days),
            datasets=_prune_datasets(session, retention.datasets_days),
            models=_prune_models(session, retention.models_days),
        )


def _older_than(days: float) -> Any:
    return db_now(-days * DAY_SECONDS)


def _deleted(session: Session, statement: Any) -> int:
    return int(session.execute(statement.execution_options(synchronize_session=False)).rowcount)


def _prune_outbox(session: Session, days: float) -> int:
    """Messages delivered long ago (a pending one stays, however old)."""
    if days <= 0:
        return 0
    return _deleted(
        session,
        delete(OutboxMessage).where(
            OutboxMessage.delivered_at.is_not(None), OutboxMessage.delivered_at < _older_than(days)
        ),
    )


def _prune_jobs(session: Session, days: float) -> int:
    """Jobs finished long ago with nothing left to show; their files and delivered messages go
    with them (the foreign keys cascade), the models they trained stay."""
    if days <= 0:
        return 0
    undelivered = exists().where(
        OutboxMessage.job_id == Job.id, OutboxMessage.delivered_at.is_(None)
    )
    progress_behind = exists().where(
        ProgressMessage.job_id == Job.id, Job.revision > ProgressMessage.shown_revision
    )
    return _deleted(
        session,
        delete(Job).where(
            Job.status.in_(FINISHED),
            Job.finished_at < _older_than(days),
            ~undelivered,
            ~progress_behind,
        ),
    )


def _prune_artifacts(session: Session, days: float) -> int:
    """Plots and prediction tables made long ago that no pending message still attaches."""
    if days <= 0:
        return 0
    attached = exists().where(
        OutboxMessage.artifact_id == Artifact.id, OutboxMessage.delivered_at.is_(None)
    )
    return _deleted(
        session, delete(Artifact).where(Artifact.created_at < _older_than(days), ~attached)
    )


def _prune_datasets(session: Session, days: float) -> int:
    """Uploads made long ago that no queued or running job will read (a finished job's
    reference to its upload becomes empty)."""
    if days <= 0:
        return 0
    needed = exists().where(Job.dataset_id == Upload.id, Job.status.in_(UNFINISHED))
    return _deleted(session, delete(Upload).where(Upload.created_at < _older_than(days), ~needed))


def _prune_models(session: Session, days: float) -> int:
    """Models trained long ago that are neither their chat's active one nor its newest, and
    that no queued or running job will use."""
    if days <= 0:
        return 0
    newer = aliased(Model)
    has_newer = exists().where(newer.chat_id == Model.chat_id, newer.version > Model.version)
    needed = exists().where(Job.model_id == Model.id, Job.status.in_(UNFINISHED))
    return _deleted(
        session,
        delete(Model).where(
            Model.created_at < _older_than(days), ~Model.is_active, has_newer, ~needed
        ),
    )
