"""The typed ORM models: chats, users, uploads, jobs, models, artifacts, outbox and workers."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, deferred, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC and hands back aware UTC, the same on SQLite and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class JobKind(enum.StrEnum):
    TRAIN = "train"
    PREDICT = "predict"


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


UNFINISHED = (JobStatus.QUEUED, JobStatus.RUNNING)


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Stored as plain strings with no database enum type: new values need no ALTER TYPE.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=False,
        length=16,
        values_callable=lambda members: [m.value for m in members],
    )


class Chat(Base):
    __tablename__ = "chats"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    type: Mapped[str] = mapped_column(String(32), default="private")
    title: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The bot process sending this chat's replies, until when (the database's clock): with two
    # bot processes on one database, each reply still goes out once and in order.
    delivery_owner: Mapped[str | None] = mapped_column(String(128))
    delivery_until: Mapped[datetime | None]
    # The highest model version the chat was ever given: versions are never reused, so that
    # "Model v3" in an old reply and /download v3 keep meaning the same model after /delete v3.
    last_model_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    username: Mapped[str | None] = mapped_column(String(64))
    first_name: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Upload(Base):
    """A table a chat sent (the CSV or .xlsx bytes), kept for the jobs that read it.

    Named apart from trainer.tables.dataset.Dataset, the table read into numbers; its rows
    stay in the `datasets` table.
    """

    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    filename: Mapped[str] = mapped_column(String(256))
    content: Mapped[bytes] = deferred(mapped_column(LargeBinary))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    n_rows: Mapped[int] = mapped_column(Integer)
    n_columns: Mapped[int] = mapped_column(Integer)
    columns: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_claimable", "status", "priority", "id"),
        Index("ix_jobs_chat_created", "chat_id", "id"),
        # A user's recent trainings, for the hourly quota.
        Index("ix_jobs_user_kind_created", "user_id", "kind", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[JobKind] = mapped_column(_enum(JobKind, "job_kind"))
    status: Mapped[JobStatus] = mapped_column(
        _enum(JobStatus, "job_status"), default=JobStatus.QUEUED
    )
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id", ondelete="SET NULL"))
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id", ondelete="SET NULL"))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    reply_to_message_id: Mapped[int | None] = mapped_column(BigInteger)

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    run_after: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    timeout_seconds: Mapped[float] = mapped_column(Float, default=900.0)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_token: Mapped[str | None] = mapped_column(String(36))
    lease_expires_at: Mapped[datetime | None]
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)

    progress_epoch: Mapped[int | None] = mapped_column(Integer)
    progress_total: Mapped[int | None] = mapped_column(Integer)
    progress_loss: Mapped[float | None] = mapped_column(Float)
    progress_val_loss: Mapped[float | None] = mapped_column(Float)
    progress_eta_seconds: Mapped[float | None] = mapped_column(Float)
    # Every change the chat should see bumps `revision`; the bot records the one it has shown
    # (ProgressMessage).
    revision: Mapped[int] = mapped_column(Integer, default=0)

    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)

    @property
    def finished(self) -> bool:
        return JobStatus(self.status).finished


class ProgressMessage(Base):
    """The chat message that shows a job's progress, and what it shows: the bot's state.

    The queue moves `Job.revision` on; the bot edits the message and records the revision
    (and the text) it brought the chat up to, so a restarted bot neither repeats nor skips.
    """

    __tablename__ = "progress_messages"

    job_id: Mapped[int] = mapped_column(
        ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    message_id: Mapped[int] = mapped_column(BigInteger)
    shown_revision: Mapped[int] = mapped_column(Integer, default=0)
    shown_text: Mapped[str | None] = mapped_column(Text)


class Model(Base):
    __tablename__ = "models"
    __table_args__ = (
        UniqueConstraint("chat_id", "version", name="uq_models_chat_version"),
        # At most one active model per chat, enforced by the database itself.
        Index(
            "uq_models_one_active_per_chat",
            "chat_id",
            unique=True,
            sqlite_where="is_active",
            postgresql_where="is_active",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"))
    # A plain number, not a foreign key: jobs already point at models, and a cycle would need ALTER.
    job_id: Mapped[int | None] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(Boolean, default=False)
    keras_file: Mapped[bytes] = deferred(mapped_column(LargeBinary))
    scaling: Mapped[dict[str, Any]] = mapped_column(default=dict)
    feature_names: Mapped[list[Any]] = mapped_column(default=list)
    target_name: Mapped[str] = mapped_column(Text)
    feature_ranges: Mapped[list[Any]] = mapped_column(default=list)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    backend: Mapped[str] = mapped_column(String(32))
    device: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Which model it is, for people: the file it was trained on and who trained it (the
    # training's upload and job may be pruned long before the model).
    filename: Mapped[str | None] = mapped_column(String(256))
    user_id: Mapped[int | None] = mapped_column(BigInteger)


class Artifact(Base):
    __tablename__ = "artifacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), index=True)
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    filename: Mapped[str] = mapped_column(String(256))
    content_type: Mapped[str] = mapped_column(String(128))
    content: Mapped[bytes] = deferred(mapped_column(LargeBinary))
    size_bytes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxMessage(Base):
    """One message for the bot to send to a chat; `delivered_at` makes delivery survive restarts."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "delivered_at", "next_attempt_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"))
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    artifact_id: Mapped[int | None] = mapped_column(ForeignKey("artifacts.id", ondelete="SET NULL"))
    reply_to_message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)


class Worker(Base):
    """A worker process; its heartbeat tells `trainbot status` whether it is alive."""

    __tablename__ = "workers"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(256))
    pid: Mapped[int] = mapped_column(Integer)
    backend: Mapped[str | None] = mapped_column(String(32))
    device: Mapped[str | None] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)
    current_job_id: Mapped[int | None] = mapped_column(Integer)
    stopped_at: Mapped[datetime | None]
