"""Turning a checked request into a queued job: remember the chat, store the data, enqueue.

These run in a worker thread (through `BotContext.db`), one thread hop per request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from telegram import Chat, User

from storage.models import JobKind
from storage.records import ChatRef, UserRef
from storage.store import Store
from storage.views import JobInfo, ModelInfo, UploadInfo


def chat_ref(chat: Chat) -> ChatRef:
    return ChatRef(chat.id, type=chat.type, title=chat.title)


def user_ref(user: User) -> UserRef:
    return UserRef(user.id, username=user.username, first_name=user.first_name)


def training(
    store: Store,
    chat: Chat,
    user: User,
    *,
    filename: str,
    content: bytes,
    n_rows: int,
    columns: Sequence[str],
    params: dict[str, Any],
    reply_to_message_id: int,
) -> tuple[JobInfo, int | None]:
    """Save the CSV and queue a train job on it; the job and its place in the queue."""
    store.records.remember(chat_ref(chat), user_ref(user))
    upload = store.records.save_dataset(
        chat.id, user_id=user.id, filename=filename, content=content, n_rows=n_rows, columns=columns
    )
    return _queued(store, JobKind.TRAIN, chat, user, params, upload, None, reply_to_message_id)


def prediction(
    store: Store,
    chat: Chat,
    user: User,
    model: ModelInfo,
    rows: list[list[float]],
    *,
    reply_to_message_id: int,
) -> JobInfo:
    """Queue a predict job for rows of input values on one of the chat's models."""
    # No `remember`: the chat owns a model, so it is on record already.
    return store.queue.enqueue(
        JobKind.PREDICT,
        chat_id=chat.id,
        user_id=user.id,
        params={"values": rows},
        model_id=model.id,
        reply_to_message_id=reply_to_message_id,
    )


def csv_prediction(
    store: Store,
    chat: Chat,
    user: User,
    model: ModelInfo,
    *,
    filename: str,
    content: bytes,
    n_rows: int,
    columns: Sequence[str],
    reply_to_message_id: int,
) -> tuple[JobInfo, int | None]:
    """Save a CSV of inputs and queue a predict job that answers with a CSV of predictions."""
    upload = store.records.save_dataset(
        chat.id, user_id=user.id, filename=filename, content=content, n_rows=n_rows, columns=columns
    )
    return _queued(
        store, JobKind.PREDICT, chat, user, {"csv": True}, upload, model, reply_to_message_id
    )


def _queued(
    store: Store,
    kind: JobKind,
    chat: Chat,
    user: User,
    params: dict[str, Any],
    upload: UploadInfo,
    model: ModelInfo | None,
    reply_to_message_id: int,
) -> tuple[JobInfo, int | None]:
    """Queue a job on a saved upload; the job and its place in the queue."""
    job = store.queue.enqueue(
        kind,
        chat_id=chat.id,
        user_id=user.id,
        params=params,
        dataset_id=upload.id,
        model_id=model.id if model is not None else None,
        reply_to_message_id=reply_to_message_id,
    )
    return job, store.queue.position(job)
