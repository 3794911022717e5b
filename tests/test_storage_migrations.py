"""Migrations: many processes starting at once on an empty database, and long names."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine, func, insert, inspect, select, text

from storage.db import HEAD_REVISION, MIGRATION_LOCK_KEY, Database
from storage.models import JobKind
from storage.records import ChatRef
from storage.results import NewModel
from storage.store import Store

STARTERS = 6

# Each child imports everything first, says it is ready, then waits for the go file, so that
# all of them reach the migration at the same moment rather than one import time apart.
START_SCRIPT = """
import sys, time
from pathlib import Path
from storage.store import Store
Path(sys.argv[3]).touch()
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.002)
store = Store.open(sys.argv[1])
store.close()
"""

TABLES = {"chats", "users", "datasets", "jobs", "models", "artifacts", "outbox", "workers"}


def test_processes_starting_at_once_on_an_empty_database_all_come_up(
    database_url: str, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    ready = [tmp_path / f"ready-{i}" for i in range(STARTERS)]
    starters = [
        subprocess.Popen(
            [sys.executable, "-c", START_SCRIPT, database_url, str(go), str(flag)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for flag in ready
    ]
    try:
        deadline = time.monotonic() + 120
        while not all(flag.exists() for flag in ready):
            assert all(s.poll() is None for s in starters), "a starter died before the start"
            assert time.monotonic() < deadline, "the starters never got ready"
            time.sleep(0.01)
        go.touch()
        outputs = [starter.communicate(timeout=120)[0] for starter in starters]
    finally:
        for starter in starters:
            if starter.poll() is None:
                starter.kill()
    failed = [out for starter, out in zip(starters, outputs, strict=True) if starter.returncode]
    assert failed == [], failed[0]

    db = Database(database_url)
    try:
        assert db.current_revision() == db.head_revision()
        assert set(inspect(db.engine).get_table_names()) >= TABLES
    finally:
        db.dispose()


@pytest.mark.postgres
def test_the_migration_lock_is_released_after_an_upgrade(
    request: pytest.FixtureRequest,
) -> None:
    from tests.conftest import reset_postgres

    url = request.getfixturevalue("postgres_server")
    reset_postgres(url)
    db = Database(url)
    db.upgrade()
    # Another session can take the lock at once: it did not stay with the pooled connection.
    other = create_engine(url)
    try:
        with other.connect() as connection:
            taken = connection.scalar(select(func.pg_try_advisory_lock(MIGRATION_LOCK_KEY)))
            assert taken
            connection.scalar(select(func.pg_advisory_unlock(MIGRATION_LOCK_KEY)))
    finally:
        other.dispose()
        db.dispose()


def test_a_model_with_a_300_character_target_name_is_stored_whole(store: Store) -> None:
    name = "y" * 300
    store.records.remember(ChatRef(1))
    store.queue.enqueue(JobKind.TRAIN, chat_id=1, user_id=None, params={})
    job = store.queue.claim("w")
    model = NewModel(
        keras_file=b"k",
        scaling={},
        feature_names=["x" * 300],
        target_name=name,
        feature_ranges=[[0.0, 1.0]],
        metrics={},
        backend="jax",
        device="cpu",
    )
    assert store.queue.complete(job, result={}, model=model)
    active = store.records.active_model(1)
    assert active is not None and active.target_name == name


def test_progress_messages_move_to_their_own_table_and_back(database_url: str) -> None:
    db = Database(database_url)
    db.upgrade("0002")
    tables = MetaData()
    tables.reflect(db.engine, only=["chats", "jobs", "outbox"])
    chats, jobs, outbox = (tables.tables[name] for name in ("chats", "jobs", "outbox"))
    now = datetime.now(UTC)
    job = {
        "kind": "train", "status": "running", "chat_id": 1, "params": {}, "priority": 10,
        "created_at": now, "run_after": now, "attempts": 1, "max_attempts": 3,
        "timeout_seconds": 900.0, "cancel_requested": False, "revision": 4,
    }  # fmt: skip
    with db.engine.begin() as connection:
        connection.execute(insert(chats).values(id=1, type="private", created_at=now))
        connection.execute(
            insert(jobs).values(
                [
                    {**job, "id": 1, "progress_message_id": 70, "shown_revision": 3,
                     "shown_text": "▶ running"},
                    {**job, "id": 2, "progress_message_id": None, "shown_revision": 0,
                     "shown_text": None},
                ]
            )
        )  # fmt: skip
        connection.execute(
            insert(outbox).values(
                chat_id=1, job_id=1, kind="train_summary", payload={}, created_at=now,
                next_attempt_at=now, attempts=0,
            )
        )  # fmt: skip

    store = Store.open(database_url)  # upgrades to the head
    [change] = store.outbox.progress_changes()
    assert (change.job.id, change.message_id, change.shown_text) == (1, 70, "▶ running")
    assert len(store.outbox.pending()) == 1  # the jobs' outbox rows survived the change

    store.close()
    db.downgrade("0002")
    with db.engine.connect() as connection:
        shown = connection.execute(
            text("SELECT id, progress_message_id, shown_revision FROM jobs ORDER BY id")
        ).all()
    assert [tuple(row) for row in shown] == [(1, 70, 3), (2, None, 0)]
    db.dispose()


def test_the_head_revision_the_code_names_is_alembics_head(database_url: str) -> None:
    db = Database(database_url)
    assert db.head_revision() == HEAD_REVISION
    db.dispose()
