"""What a finished job leaves behind: its model, its files and the chat's messages about it.

The queue (storage.queue) decides that a job ended; this module writes what the ending
produced, inside the same transaction, so a result and its job's new state land together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row, func, select, update
from sqlalchemy.orm import Session

from storage.models import Artifact, Chat, Job, JobStatus, Model, OutboxMessage, Upload, User
from storage.views import JobInfo


@dataclass(frozen=True)
class NewArtifact:
    """A file a finished job leaves behind; `key` lets messages of the same job refer to it."""

    key: str
    kind: str
    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class NewMessage:
    """A reply for the bot to deliver; `artifact_key` attaches one of the job's new artifacts."""

    kind: str
    payload: dict[str, Any] = field(default_factory=dict)
    artifact_key: str | None = None


@dataclass(frozen=True)
class NewModel:
    """A trained model to store for the job's chat and make its active one."""

    keras_file: bytes
    scaling: dict[str, Any]
    feature_names: list[str]
    target_name: str
    feature_ranges: list[Any]
    metrics: dict[str, Any]
    backend: str
    device: str


def store(
    session: Session,
    job: JobInfo,
    result: dict[str, Any],
    messages: Sequence[NewMessage],
    artifacts: Sequence[NewArtifact],
    model: NewModel | None,
) -> None:
    """Store a succeeded job's result, model, files and messages (the caller commits)."""
    extra: dict[str, Any] = {}
    if model is not None:
        replaced = _active_model(session, job.chat_id)
        stored = _store_model(session, job, model)
        extra = {"model_id": stored.id, "model_version": stored.version}
        extra["model"] = model_facts(session, stored)
        if replaced is not None:
            # Said in a group: another member's answers change with this model.
            extra["replaced"] = model_facts(session, replaced)
    elif job.model_id is not None:
        used = session.get(Model, job.model_id)
        if used is not None and used.chat_id == job.chat_id:
            extra = {"model": model_facts(session, used)}
    stored_artifacts = {a.key: _store_artifact(session, job, a) for a in artifacts}
    # The job's result keeps the model's ids; its messages also name the model for people.
    ids = {key: extra[key] for key in ("model_id", "model_version") if key in extra}
    session.execute(
        update(Job)
        .where(Job.id == job.id)
        .values(result={**result, **ids}, model_id=extra.get("model_id", job.model_id))
    )
    for message in messages:
        artifact = stored_artifacts.get(message.artifact_key or "")
        session.add(
            OutboxMessage(
                chat_id=job.chat_id,
                job_id=job.id,
                kind=message.kind,
                payload={"job_id": job.id, **message.payload, **extra},
                artifact_id=artifact.id if artifact is not None else None,
                reply_to_message_id=job.reply_to_message_id,
            )
        )


def tell_chat(session: Session, ended: Row[Any]) -> None:
    """Queue the chat's message about a job that a transition failed or cancelled.

    `ended` holds the columns storage.queue returns from such a transition (id, status,
    kind, chat_id, reply_to_message_id, error).
    """
    status = JobStatus(ended.status)
    if status not in (JobStatus.FAILED, JobStatus.CANCELLED):
        return
    session.add(
        OutboxMessage(
            chat_id=ended.chat_id,
            job_id=ended.id,
            kind="job_failed" if status is JobStatus.FAILED else "job_cancelled",
            payload={"job_id": ended.id, "job_kind": str(ended.kind), "error": ended.error},
            reply_to_message_id=ended.reply_to_message_id,
        )
    )


def model_facts(session: Session, model: Model) -> dict[str, Any]:
    """Which model this is, for people: its version, the file it was trained on, when, and
    who trained it (named in groups, where several people train)."""
    chat_type = session.scalar(select(Chat.type).where(Chat.id == model.chat_id))
    trainer = None
    if model.user_id is not None:
        user = session.get(User, model.user_id)
        if user is not None:
            trainer = user.first_name or (f"@{user.username}" if user.username else None)
    return {
        "version": model.version,
        "filename": model.filename,
        "created_at": model.created_at.isoformat() if model.created_at else None,
        "trained_by": trainer,
        "group": chat_type not in (None, "private"),
    }


def _active_model(session: Session, chat_id: int) -> Model | None:
    return session.scalars(
        select(Model).where(Model.chat_id == chat_id, Model.is_active)
    ).one_or_none()


def _store_model(session: Session, job: JobInfo, model: NewModel) -> Model:
    # Locking the chat row serialises two of its jobs finishing at once on PostgreSQL, which
    # would otherwise both pick the same next version number.
    given = session.scalar(
        select(Chat.last_model_version).where(Chat.id == job.chat_id).with_for_update()
    )
    highest = session.scalar(select(func.max(Model.version)).where(Model.chat_id == job.chat_id))
    # The chat's counter, so a deleted model's number is never given again.
    version = max(given or 0, highest or 0) + 1
    session.execute(update(Chat).where(Chat.id == job.chat_id).values(last_model_version=version))
    filename = None
    if job.dataset_id is not None:
        filename = session.scalar(select(Upload.filename).where(Upload.id == job.dataset_id))
    session.execute(
        update(Model).where(Model.chat_id == job.chat_id, Model.is_active).values(is_active=False)
    )
    stored = Model(
        chat_id=job.chat_id,
        job_id=job.id,
        version=version,
        is_active=True,
        keras_file=model.keras_file,
        scaling=model.scaling,
        feature_names=model.feature_names,
        target_name=model.target_name,
        feature_ranges=model.feature_ranges,
        metrics=model.metrics,
        backend=model.backend,
        device=model.device,
        filename=filename,
        user_id=job.user_id,
    )
    session.add(stored)
    session.flush()
    return stored


def _store_artifact(session: Session, job: JobInfo, artifact: NewArtifact) -> Artifact:
    stored = Artifact(
        chat_id=job.chat_id,
        job_id=job.id,
        kind=artifact.kind,
        filename=artifact.filename,
        content_type=artifact.content_type,
        content=artifact.content,
        size_bytes=len(artifact.content),
    )
    session.add(stored)
    session.flush()
    return stored
