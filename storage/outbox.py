"""What the bot must send: outbox messages and progress changes, with their delivery marks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import undefer

from storage import notify
from storage.db import Database
from storage.models import Artifact, Job, OutboxMessage, ProgressMessage, utcnow
from storage.views import ArtifactInfo, JobInfo, OutboxItem, ProgressChange, view_of, view_or_none


class Outbox:
    """Pending replies in the order they were written, delivered once each."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.notifier = notify.Notifier(db)

    def wait(self, timeout: float) -> bool:
        """Block up to `timeout` seconds for a wake-up that there is something to deliver."""
        return self.notifier.wait(notify.OUTBOX, timeout)

    def pending(self, limit: int = 50, per_chat: int = 10) -> list[OutboxItem]:
        """Messages due now, each chat's oldest `per_chat`, taken round-robin between chats.

        First every chat's oldest message, then every chat's second... (chats in the order of
        their oldest message), so a chat with a backlog cannot push the others past `limit`.
        Each chat's messages come in the order they were written.
        """
        due = (
            OutboxMessage.delivered_at.is_(None),
            OutboxMessage.next_attempt_at <= utcnow(),
        )
        oldest = _round_robin(
            OutboxMessage, OutboxMessage.chat_id, OutboxMessage.id, due, per_chat=per_chat
        )
        with self.db.session() as session:
            return [view_of(OutboxItem, m) for m in session.scalars(oldest.limit(limit))]

    def artifact(self, artifact_id: int) -> ArtifactInfo | None:
        with self.db.session() as session:
            artifact = session.scalars(
                select(Artifact)
                .where(Artifact.id == artifact_id)
                .options(undefer(Artifact.content))
            ).one_or_none()
            return view_or_none(ArtifactInfo, artifact)

    def mark_delivered(self, message_id: int, telegram_message_id: int | None) -> None:
        with self.db.session() as session:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == message_id)
                .values(delivered_at=utcnow(), telegram_message_id=telegram_message_id)
            )

    def retry_later(self, message_id: int, error: str, delay_seconds: float) -> None:
        with self.db.session() as session:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == message_id)
                .values(
                    attempts=OutboxMessage.attempts + 1,
                    last_error=error[:1000],
                    next_attempt_at=utcnow() + timedelta(seconds=delay_seconds),
                )
            )

    def give_up(self, message_id: int, error: str) -> None:
        """Stop trying a message Telegram will never accept (the chat is gone, the bot blocked)."""
        with self.db.session() as session:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == message_id)
                .values(
                    delivered_at=utcnow(),
                    attempts=OutboxMessage.attempts + 1,
                    last_error=f"undeliverable: {error}"[:1000],
                )
            )

    # -- progress messages -------------------------------------------------------------------

    def progress_changes(self, limit: int = 50) -> list[ProgressChange]:
        """Jobs whose progress message shows an older state than the job is in.

        Round-robin between chats like `pending`, so one chat's many jobs cannot crowd out
        another chat's progress.
        """
        behind = (
            ProgressMessage.job_id == Job.id,
            Job.revision > ProgressMessage.shown_revision,
        )
        statement = (
            _round_robin(Job, Job.chat_id, Job.id, behind, per_chat=None)
            .add_columns(ProgressMessage.message_id, ProgressMessage.shown_text)
            .join(ProgressMessage, ProgressMessage.job_id == Job.id)
            .limit(limit)
        )
        with self.db.session() as session:
            return [
                ProgressChange(view_of(JobInfo, job), message_id, shown_text)
                for job, message_id, shown_text in session.execute(statement)
            ]

    def mark_progress_shown(self, job_id: int, revision: int, text: str | None) -> None:
        with self.db.session() as session:
            session.execute(
                update(ProgressMessage)
                .where(ProgressMessage.job_id == job_id, ProgressMessage.shown_revision < revision)
                .values(shown_revision=revision, shown_text=text)
            )


def _round_robin(
    entity: Any, chat_id: Any, row_id: Any, where: tuple[Any, ...], *, per_chat: int | None
) -> Select[Any]:
    """`entity` rows matching `where` in round-robin order between chats: every chat's first
    row, then every chat's second..., chats in the order of their first row.

    Window functions (SQLite 3.25+, PostgreSQL) rank the rows in a subquery; the outer query
    maps the ranks back onto the entity, keeping at most `per_chat` rows of each chat.
    """
    ranked = (
        select(
            row_id.label("row_id"),
            func.row_number().over(partition_by=chat_id, order_by=row_id).label("turn"),
            func.min(row_id).over(partition_by=chat_id).label("chat_first"),
        )
        .where(*where)
        .subquery()
    )
    statement = select(entity).join(ranked, ranked.c.row_id == row_id)
    if per_chat is not None:
        statement = statement.where(ranked.c.turn <= per_chat)
    return statement.order_by(ranked.c.turn, ranked.c.chat_first, row_id)
