"""What a user and a chat have used of an open bot's quotas: trainings lately, bytes kept.

The bot compares these numbers with its settings and answers in a sentence. Times come from
the database's clock, as retention's do, so the wait a chat is told matches what retention
and the next count will see.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.clock import db_now
from storage.db import Database
from storage.models import Artifact, Job, JobKind, Model, Upload


@dataclass(frozen=True)
class RecentTrainings:
    """A user's trainings started within a window, counted up to the limit asked about."""

    count: int
    # Seconds until fewer than the limit are left in the window (0: fewer already).
    wait_seconds: float


@dataclass(frozen=True)
class StoredBytes:
    """What one chat keeps in the database, in bytes, and how old its oldest deletable rows are."""

    uploads: int
    models: int
    # Plots and prediction tables the worker made for the chat.
    files: int
    # Seconds since the oldest upload and file were made; None where the chat has none.
    oldest_upload_age: float | None
    oldest_file_age: float | None

    @property
    def total(self) -> int:
        return self.uploads + self.models + self.files


class Quotas:
    """Counts for the bot's quotas; every number is one query, none reads a file's bytes."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def recent_trainings(
        self, user_id: int, *, limit: int, window_seconds: float
    ) -> RecentTrainings:
        """How many trainings `user_id` started (in any chat) in the last `window_seconds`,
        at most `limit`, and when the oldest of those that fill the limit leaves the window."""
        with self.db.session() as session:
            now = _now(session)
            started = list(
                session.scalars(
                    select(Job.created_at)
                    .where(
                        Job.user_id == user_id,
                        Job.kind == JobKind.TRAIN,
                        Job.created_at > db_now(-window_seconds),
                    )
                    .order_by(Job.created_at.desc())
                    .limit(limit)
                )
            )
        if len(started) < limit:
            return RecentTrainings(len(started), 0.0)
        leaves = started[-1] + timedelta(seconds=window_seconds) - now
        return RecentTrainings(len(started), max(leaves.total_seconds(), 0.0))

    def stored_bytes(self, chat_id: int) -> StoredBytes:
        """The bytes of a chat's uploads, models and made files (lengths only, never contents)."""
        with self.db.session() as session:
            now = _now(session)
            uploads, oldest_upload = session.execute(
                select(func.coalesce(func.sum(Upload.size_bytes), 0), func.min(Upload.created_at))
                .where(Upload.chat_id == chat_id)
            ).one()  # fmt: skip
            files, oldest_file = session.execute(
                select(
                    func.coalesce(func.sum(Artifact.size_bytes), 0), func.min(Artifact.created_at)
                ).where(Artifact.chat_id == chat_id)
            ).one()
            # length() of a blob is read from its header (SQLite) or toast pointer (PostgreSQL).
            models = session.scalar(
                select(func.coalesce(func.sum(func.length(Model.keras_file)), 0)).where(
                    Model.chat_id == chat_id
                )
            )
        return StoredBytes(
            uploads=int(uploads),
            models=int(models or 0),
            files=int(files),
            oldest_upload_age=_age(now, oldest_upload),
            oldest_file_age=_age(now, oldest_file),
        )


def _now(session: Session) -> datetime:
    now = session.scalar(select(db_now()))
    assert now is not None
    return now


def _age(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else max((now - then).total_seconds(), 0.0)
