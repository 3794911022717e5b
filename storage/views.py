"""What storage hands to the other rooms: frozen dataclasses of its rows, never ORM objects.

An ORM row outlives its session badly (a deferred column loads on first touch, and that
needs the session that is gone) and invites writes that would bypass the queue's guarded
transitions. A copy of the columns, taken while the session is open, has neither problem.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Row, inspect

from storage.models import JobKind, JobStatus

View = TypeVar("View")


def view_of(cls: type[View], row: Any) -> View:
    """`cls` filled from the ORM row's columns of the same names (or a Core result row's); a
    column left unloaded (deferred file contents) becomes None rather than a query after the
    session closed."""
    if isinstance(row, Row):
        values = row._mapping
        return cls(**{f.name: values[f.name] for f in dataclasses.fields(cls)})  # type: ignore[arg-type]
    unloaded = inspect(row).unloaded
    return cls(
        **{
            f.name: None if f.name in unloaded else getattr(row, f.name)
            for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        }
    )


def view_or_none(cls: type[View], row: Any | None) -> View | None:
    """`view_of`, or None where there is no row."""
    return None if row is None else view_of(cls, row)


@dataclass(frozen=True)
class JobInfo:
    id: int
    kind: JobKind
    status: JobStatus
    chat_id: int
    user_id: int | None
    dataset_id: int | None
    model_id: int | None
    params: dict[str, Any]
    priority: int
    reply_to_message_id: int | None
    created_at: datetime
    run_after: datetime
    started_at: datetime | None
    finished_at: datetime | None
    attempts: int
    max_attempts: int
    timeout_seconds: float
    lease_owner: str | None
    lease_token: str | None
    lease_expires_at: datetime | None
    cancel_requested: bool
    progress_epoch: int | None
    progress_total: int | None
    progress_loss: float | None
    progress_val_loss: float | None
    progress_eta_seconds: float | None
    revision: int
    result: dict[str, Any] | None
    error: str | None

    @property
    def finished(self) -> bool:
        return JobStatus(self.status).finished


@dataclass(frozen=True)
class ProgressChange:
    """A job whose progress message in the chat shows an older state than the job is in."""

    job: JobInfo
    message_id: int
    shown_text: str | None


@dataclass(frozen=True)
class ModelInfo:
    id: int
    chat_id: int
    job_id: int | None
    version: int
    is_active: bool
    scaling: dict[str, Any]
    feature_names: list[Any]
    target_name: str
    feature_ranges: list[Any]
    metrics: dict[str, Any]
    backend: str
    device: str
    created_at: datetime
    # The `.keras` file, where it was asked for (it is the large part of the row).
    keras_file: bytes | None = None
    # The file it was trained on and who trained it (None for models stored before 0005).
    filename: str | None = None
    user_id: int | None = None


@dataclass(frozen=True)
class UploadInfo:
    id: int
    chat_id: int
    filename: str
    size_bytes: int
    n_rows: int
    n_columns: int
    columns: list[Any]


@dataclass(frozen=True)
class ArtifactInfo:
    id: int
    chat_id: int
    job_id: int | None
    kind: str
    filename: str
    content_type: str
    size_bytes: int
    # Where it was asked for.
    content: bytes | None = None


@dataclass(frozen=True)
class OutboxItem:
    """A message waiting for the bot to send it."""

    id: int
    chat_id: int
    job_id: int | None
    kind: str
    payload: dict[str, Any]
    artifact_id: int | None
    reply_to_message_id: int | None
    attempts: int
    last_error: str | None


@dataclass(frozen=True)
class Signal:
    """What a running job's worker learns when it reports in."""

    lease_held: bool
    cancel_requested: bool


class CancelOutcome(enum.StrEnum):
    NOT_FOUND = "not_found"
    ALREADY_FINISHED = "already_finished"
    CANCELLED = "cancelled"
    REQUESTED = "requested"


@dataclass(frozen=True)
class QueueCounts:
    queued: int
    running: int
    succeeded: int
    failed: int
    cancelled: int
