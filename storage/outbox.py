"""What the bot must send: outbox messages and progress changes, with their delivery marks."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import undefer

from storage import notify
from storage.db import Database
from storage.models import Artifact, Job, OutboxMessage, utcnow


class Outbox:
    """Pending replies in the order they were written, delivered once each."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.notifier = notify.Notifier(db)

    def wait(self, timeout: float) -> bool:
        """Block up to `timeout` seconds for a wake-up that there is something to deliver."""
        return self.notifier.wait(notify.OUTBOX, timeout)

    def pending(self, limit: int = 50) -> list[OutboxMessage]:
        with self.db.session() as session:
            return list(
                session.scalars(
                    select(OutboxMessage)
                    .where(
                        OutboxMessage.delivered_at.is_(None),
                        OutboxMessage.next_attempt_at <= utcnow(),
                    )
                    .order_by(OutboxMessage.id)
                    .limit(limit)
                )
            )

    def artifact(self, artifact_id: int) -> Artifact | None:
        with self.db.session() as session:
            return session.scalars(
                select(Artifact)
                .where(Artifact.id == artifact_id)
                .options(undefer(Artifact.content))
            ).one_or_none()

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

    def progress_changes(self, limit: int = 50) -> list[Job]:
        """Jobs whose progress message shows an older state than the job is in."""
        with self.db.session() as session:
            return list(
                session.scalars(
                    select(Job)
                    .where(Job.progress_message_id.is_not(None), Job.revision > Job.shown_revision)
                    .order_by(Job.id)
                    .limit(limit)
                )
            )

    def mark_progress_shown(self, job_id: int, revision: int, text: str | None) -> None:
        with self.db.session() as session:
            session.execute(
                update(Job)
                .where(Job.id == job_id, Job.shown_revision < revision)
                .values(shown_revision=revision, shown_text=text)
            )
