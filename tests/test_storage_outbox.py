"""The outbox hands out pending messages fairly between chats, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from storage.models import Chat, Job, JobKind, OutboxMessage, ProgressMessage, utcnow
from storage.store import Store

BUSY, QUIET, LATE = 100, 200, 300


def add_messages(store: Store, chat_id: int, count: int, **fields: object) -> list[int]:
    with store.db.session() as session:
        if session.get(Chat, chat_id) is None:
            session.add(Chat(id=chat_id))
            session.flush()
        rows = [
            OutboxMessage(chat_id=chat_id, kind="predictions", payload={"n": i}, **fields)
            for i in range(count)
        ]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def test_a_chat_with_a_backlog_cannot_push_another_chat_out_of_the_batch(store: Store) -> None:
    busy = add_messages(store, BUSY, 120)
    [quiet] = add_messages(store, QUIET, 1)
    late = add_messages(store, LATE, 3)

    batch = store.outbox.pending(limit=50, per_chat=10)

    # Every chat's oldest first (chats in the order of their oldest), then the next ones.
    assert [m.id for m in batch[:3]] == [busy[0], quiet, late[0]]
    assert [m.id for m in batch[3:5]] == [busy[1], late[1]]
    by_chat = {chat: [m.id for m in batch if m.chat_id == chat] for chat in (BUSY, QUIET, LATE)}
    assert by_chat == {BUSY: busy[:10], QUIET: [quiet], LATE: late}
    assert len(batch) == 14


def test_the_limit_cuts_turns_not_chats(store: Store) -> None:
    chats = list(range(1, 31))
    first = {chat: add_messages(store, chat, 3) for chat in chats}
    batch = store.outbox.pending(limit=40)
    # 30 chats' first messages, then 10 chats' second ones, in the order the chats began.
    assert [m.id for m in batch[:30]] == [first[chat][0] for chat in chats]
    assert [m.id for m in batch[30:]] == [first[chat][1] for chat in chats[:10]]


def test_waiting_and_delivered_messages_take_no_turn(store: Store) -> None:
    now = utcnow()
    add_messages(store, BUSY, 2, delivered_at=now)
    [waiting] = add_messages(store, BUSY, 1, next_attempt_at=now + timedelta(hours=1))
    due = add_messages(store, BUSY, 2)
    assert [m.id for m in store.outbox.pending(per_chat=1)] == [due[0]]
    assert waiting not in [m.id for m in store.outbox.pending()]


def test_progress_changes_are_round_robin_between_chats(store: Store) -> None:
    with store.db.session() as session:
        session.add_all([Chat(id=BUSY), Chat(id=QUIET)])
        session.flush()
        for chat_id, count in ((BUSY, 60), (QUIET, 1)):
            jobs = [Job(kind=JobKind.TRAIN, chat_id=chat_id, revision=2) for _ in range(count)]
            session.add_all(jobs)
            session.flush()
            session.add_all(
                ProgressMessage(job_id=job.id, message_id=7, shown_revision=1) for job in jobs
            )
    changes = store.outbox.progress_changes(limit=50)
    assert len(changes) == 50
    assert [change.job.chat_id for change in changes[:2]] == [BUSY, QUIET]
