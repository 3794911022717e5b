"""Chats as a whole: following a group that Telegram turned into a supergroup (a new chat id).

When a group is upgraded, Telegram gives it a new id and refuses every call to the old one
(ChatMigrated). Everything the chat owns moves to the new id, so its models answer `/predict`
there and its pending replies are delivered there.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Update, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.db import Database
from storage.models import Artifact, Chat, Job, Model, OutboxMessage, ProgressMessage, Upload


@dataclass(frozen=True)
class Migration:
    """How many rows of each kind moved from the old chat id to the new one."""

    models: int = 0
    jobs: int = 0
    datasets: int = 0
    artifacts: int = 0
    messages: int = 0

    @property
    def moved_anything(self) -> bool:
        return any((self.models, self.jobs, self.datasets, self.artifacts, self.messages))


def migrate_chat(db: Database, old_chat_id: int, new_chat_id: int) -> Migration:
    """Move the chat's models, jobs, datasets, files and pending messages to its new id.

    Idempotent (Telegram announces a migration in both chats, and delivery meets it too): a
    second call finds nothing left to move. Delivered messages stay with the old id, as the
    history of what was sent there.

    Message ids belong to a chat, so ids of the old chat mean nothing in the new one: replies
    lose their quote, and progress messages (in the old chat, which can no longer be edited)
    are let go; the result of a job still arrives as its own message.
    """
    if old_chat_id == new_chat_id:
        return Migration()
    with db.session() as session:
        _ensure_chat(session, old_chat_id, new_chat_id)
        # Both rows locked in a fixed order: a job storing a model locks its chat row, and two
        # migrations (or a migration and a finishing job) must not interleave on PostgreSQL.
        session.execute(
            select(Chat.id)
            .where(Chat.id.in_((old_chat_id, new_chat_id)))
            .order_by(Chat.id)
            .with_for_update()
        )
        models = _move_models(session, old_chat_id, new_chat_id)
        # The new chat never gives a number either chat gave before.
        given = select(func.max(Chat.last_model_version)).where(
            Chat.id.in_((old_chat_id, new_chat_id))
        )
        highest = select(func.max(Model.version)).where(Model.chat_id == new_chat_id)
        counter = max(session.scalar(given) or 0, session.scalar(highest) or 0)
        session.execute(
            update(Chat).where(Chat.id == new_chat_id).values(last_model_version=counter)
        )
        session.execute(
            delete(ProgressMessage).where(
                ProgressMessage.job_id.in_(select(Job.id).where(Job.chat_id == old_chat_id))
            )
        )
        jobs = _rowcount(
            session,
            update(Job)
            .where(Job.chat_id == old_chat_id)
            .values(chat_id=new_chat_id, reply_to_message_id=None),
        )
        datasets = _rowcount(
            session,
            update(Upload).where(Upload.chat_id == old_chat_id).values(chat_id=new_chat_id),
        )
        artifacts = _rowcount(
            session,
            update(Artifact).where(Artifact.chat_id == old_chat_id).values(chat_id=new_chat_id),
        )
        messages = _rowcount(
            session,
            update(OutboxMessage)
            .where(OutboxMessage.chat_id == old_chat_id, OutboxMessage.delivered_at.is_(None))
            .values(chat_id=new_chat_id, reply_to_message_id=None),
        )
    return Migration(models, jobs, datasets, artifacts, messages)


def _ensure_chat(session: Session, old_chat_id: int, new_chat_id: int) -> None:
    """The new chat's row (a supergroup with the old one's title), unless it exists already."""
    old = session.get(Chat, old_chat_id)
    values = {"id": new_chat_id, "type": "supergroup", "title": old.title if old else None}
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(insert(Chat).values(**values).on_conflict_do_nothing(index_elements=["id"]))


def _move_models(session: Session, old_chat_id: int, new_chat_id: int) -> int:
    """Move the models, keeping their version numbers where the new chat has no such version.

    Rows the new chat has already are never changed: a moved model whose version is taken there
    gets the next free one. One model stays active: the more recently made of the two chats'
    active models (a training that finished last is the one the chat expects to answer).
    """
    moving = list(
        session.scalars(select(Model).where(Model.chat_id == old_chat_id).order_by(Model.version))
    )
    if not moving:
        return 0
    taken = set(session.scalars(select(Model.version).where(Model.chat_id == new_chat_id)))
    both = Model.chat_id.in_((old_chat_id, new_chat_id))
    next_free = (session.scalar(select(func.max(Model.version)).where(both)) or 0) + 1
    active_there = session.scalars(
        select(Model).where(Model.chat_id == new_chat_id, Model.is_active)
    ).one_or_none()
    active_here = next((m for m in moving if m.is_active), None)
    if active_here is not None and active_there is not None:
        loser = active_there if active_here.created_at > active_there.created_at else active_here
        # Off before anything moves: the database allows one active model per chat.
        loser.is_active = False
        session.flush()
    for model in moving:
        if model.version in taken:
            model.version, next_free = next_free, next_free + 1
        model.chat_id = new_chat_id
        # One row at a time: the (chat, version) and one-active constraints are checked per
        # row on PostgreSQL, and every row is known to fit once it is there.
        session.flush()
    return len(moving)


def _rowcount(session: Session, statement: Update) -> int:
    return int(getattr(session.execute(statement), "rowcount", 0) or 0)
