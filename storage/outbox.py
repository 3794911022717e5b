"""What the bot must send: outbox messages and progress changes, with their delivery marks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, not_, or_, select, union, update
from sqlalchemy.orm import Session, undefer

from storage import notify
from storage.clock import db_now
from storage.db import Database
from storage.models import Artifact, Chat, Job, OutboxMessage, ProgressMessage, utcnow
from storage.views import ArtifactInfo, JobInfo, OutboxItem, ProgressChange, view_of, view_or_none


class Outbox:
    """Pending replies in the order they were written, delivered once each.

    A bot process reads what to send through `due`, which hands it only the chats whose
    delivery lease it holds (storage.models.Chat.delivery_owner): two bot processes on one
    database (an accidental double deploy, a rolling restart) never send the same reply.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self.notifier = notify.Notifier(db)

    def look(self) -> int:
        """Call before reading what to deliver: a change from now on wakes the `wait` given
        the token this returns."""
        return self.notifier.look(notify.OUTBOX)

    def wait(self, timeout: float, since: int | None = None) -> bool:
        """Block up to `timeout` seconds for a wake-up that there is something to deliver
        (news since the look that gave `since`; by default this thread's last look)."""
        return self.notifier.wait(notify.OUTBOX, timeout, since)

    def pending(self, limit: int = 50, per_chat: int = 10) -> list[OutboxItem]:
        """Messages due now, each chat's oldest `per_chat`, taken round-robin between chats.

        First every chat's oldest message, then every chat's second... (chats in the order of
        their oldest message), so a chat with a backlog cannot push the others past `limit`.
        Each chat's messages come in the order they were written.
        """
        with self.db.session() as session:
            return _pending(session, (), limit, per_chat)

    def due(
        self, owner: str, lease_seconds: float, *, limit: int = 50, per_chat: int = 10
    ) -> tuple[list[OutboxItem], list[ProgressChange]]:
        """What bot process `owner` should send now: `pending` messages and `progress_changes`
        of the chats whose delivery lease it holds, after taking the leases of chats with
        something due that nobody else holds.

        A lease lasts `lease_seconds` and is renewed here once less than half of it is left,
        so a chat stays with the process serving it while that process reads the outbox.
        Taking and reading happen in one transaction, in that order: a message another
        process delivered under its lease is marked delivered before this one can take the
        chat, so it is never read as pending here.
        """
        mine = and_(Chat.delivery_owner == owner, Chat.delivery_until > db_now())
        free = or_(
            Chat.delivery_owner.is_(None), Chat.delivery_owner == owner,
            Chat.delivery_until.is_(None), Chat.delivery_until <= db_now(),
        )  # fmt: skip
        # A lease with more than half its time left is left alone: no write in a quiet round.
        # (Every term is NOT NULL-safe: a NULL would drop a free chat from the UPDATE.)
        fresh = and_(
            Chat.delivery_owner.is_not(None), Chat.delivery_owner == owner,
            Chat.delivery_until.is_not(None), Chat.delivery_until > db_now(lease_seconds / 2),
        )  # fmt: skip
        waiting = union(
            select(OutboxMessage.chat_id).where(*_due_message()),
            select(Job.chat_id).join(ProgressMessage, ProgressMessage.job_id == Job.id)
            .where(*_BEHIND),
        )  # fmt: skip
        # Rows another process is taking right now are skipped, not waited for: two bots
        # locking the same chats in different orders could deadlock. Materialized for the
        # reason storage.claims gives.
        takeable = (
            select(Chat.id).where(Chat.id.in_(waiting), free, not_(fresh))
            .with_for_update(skip_locked=True)
            .cte("takeable").prefix_with("MATERIALIZED", dialect="postgresql")
        )  # fmt: skip
        with self.db.session() as session:
            session.execute(
                update(Chat)
                .where(Chat.id.in_(select(takeable.c.id)), free)
                .values(delivery_owner=owner, delivery_until=db_now(lease_seconds))
                .execution_options(synchronize_session=False)
            )
            held = select(Chat.id).where(mine)
            messages = _pending(session, (OutboxMessage.chat_id.in_(held),), limit, per_chat)
            changes = _progress_changes(session, (Job.chat_id.in_(held),), limit)
        return messages, changes

    def release(self, owner: str) -> None:
        """Let go of `owner`'s delivery leases (a bot stopping): another process takes over
        those chats at once rather than when the leases run out."""
        with self.db.session() as session:
            session.execute(
                update(Chat)
                .where(Chat.delivery_owner == owner)
                .values(delivery_owner=None, delivery_until=None)
            )

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
                # The first mark stands: it holds the id of the message the chat has.
                .where(OutboxMessage.id == message_id, OutboxMessage.delivered_at.is_(None))
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
        with self.db.session() as session:
            return _progress_changes(session, (), limit)

    def mark_progress_shown(self, job_id: int, revision: int, text: str | None) -> None:
        with self.db.session() as session:
            session.execute(
                update(ProgressMessage)
                .where(ProgressMessage.job_id == job_id, ProgressMessage.shown_revision < revision)
                .values(shown_revision=revision, shown_text=text)
            )


def _due_message() -> tuple[ColumnElement[bool], ...]:
    return (OutboxMessage.delivered_at.is_(None), OutboxMessage.next_attempt_at <= utcnow())


_BEHIND = (ProgressMessage.job_id == Job.id, Job.revision > ProgressMessage.shown_revision)


def _pending(
    session: Session, where: tuple[ColumnElement[bool], ...], limit: int, per_chat: int
) -> list[OutboxItem]:
    oldest = _round_robin(
        OutboxMessage, OutboxMessage.chat_id, OutboxMessage.id, (*_due_message(), *where),
        per_chat=per_chat,
    )  # fmt: skip
    return [view_of(OutboxItem, m) for m in session.scalars(oldest.limit(limit))]


def _progress_changes(
    session: Session, where: tuple[ColumnElement[bool], ...], limit: int
) -> list[ProgressChange]:
    statement = (
        _round_robin(Job, Job.chat_id, Job.id, (*_BEHIND, *where), per_chat=None)
        .add_columns(ProgressMessage.message_id, ProgressMessage.shown_text)
        .join(ProgressMessage, ProgressMessage.job_id == Job.id)
        .limit(limit)
    )
    return [
        ProgressChange(view_of(JobInfo, job), message_id, shown_text)
        for job, message_id, shown_text in session.execute(statement)
    ]


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
