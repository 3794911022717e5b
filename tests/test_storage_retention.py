"""`trainbot db prune`: old rows go, anything still needed stays, models are never touched."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, update

from storage.clock import db_now
from storage.models import Artifact, Job, JobKind, OutboxMessage, Upload
from storage.records import ChatRef
from storage.results import NewArtifact, NewMessage, NewModel
from storage.retention import DAY_SECONDS, Pruned, Retention, prune
from storage.store import Store
from trainbot import cli

CHAT = 31337
OLD, RECENT = 400.0, 1.0  # days ago
EVERYTHING_OLD = Retention(datasets_days=30, artifacts_days=30, outbox_days=7, jobs_days=90)


def days_ago(store: Store, row: type, row_id: int, days: float, *columns: str) -> None:
    """Move a row's timestamps `days` into the past (as if it had been written then)."""
    with store.db.session() as session:
        session.execute(
            update(row)
            .where(row.id == row_id)
            .values({column: db_now(-days * DAY_SECONDS) for column in columns})
        )


def a_dataset(store: Store, age: float) -> int:
    dataset = store.records.save_dataset(
        CHAT, user_id=None, filename="f.csv", content=b"x,y\n1,2\n", n_rows=1, columns=["x", "y"]
    )
    days_ago(store, Upload, dataset.id, age, "created_at")
    return dataset.id


def a_finished_training(store: Store, age: float, *, deliver: bool = True) -> Job:
    """A training that finished `age` days ago, with a model, a plot and two replies."""
    dataset_id = a_dataset(store, age)
    store.queue.enqueue(JobKind.TRAIN, chat_id=CHAT, user_id=None, params={}, dataset_id=dataset_id)
    job = store.queue.claim("w")
    model = NewModel(b"k", {}, ["x"], "y", [[0.0, 1.0]], {}, "jax", "cpu")
    assert store.queue.complete(
        job,
        result={},
        model=model,
        artifacts=[NewArtifact("plot", "plot", "p.png", "image/png", b"png")],
        messages=[NewMessage("train_plot", {}, "plot"), NewMessage("train_summary", {})],
    )
    days_ago(store, Job, job.id, age, "created_at", "finished_at")
    with store.db.session() as session:
        artifact_ids = list(session.scalars(select(Artifact.id).where(Artifact.job_id == job.id)))
    for artifact_id in artifact_ids:
        days_ago(store, Artifact, artifact_id, age, "created_at")
    if deliver:
        for message in store.outbox.pending(limit=1000, per_chat=1000):
            if message.job_id == job.id:
                store.outbox.mark_delivered(message.id, 1)
                days_ago(store, OutboxMessage, message.id, age, "delivered_at")
    return job


def rows(store: Store, table: type) -> set[int]:
    with store.db.session() as session:
        return set(session.scalars(select(table.id)))


@pytest.fixture
def chat(store: Store) -> Store:
    store.records.remember(ChatRef(CHAT))
    return store


def test_prune_deletes_what_is_old_and_done_and_keeps_the_rest(chat: Store) -> None:
    store = chat
    gone = a_finished_training(store, OLD)
    undelivered = a_finished_training(store, OLD, deliver=False)
    behind = a_finished_training(store, OLD)
    store.records.set_progress_message(CHAT, behind.id, 99)  # its final edit not shown yet
    recent = a_finished_training(store, RECENT)
    waiting = store.queue.enqueue(
        JobKind.TRAIN, chat_id=CHAT, user_id=None, params={}, dataset_id=a_dataset(store, OLD)
    )
    days_ago(store, Job, waiting.id, OLD, "created_at")
    active_before = store.records.active_model(CHAT)

    pruned = prune(store.db, EVERYTHING_OLD)

    assert rows(store, Job) == {undelivered.id, behind.id, recent.id, waiting.id}
    # The pruned job's plot and delivered replies went with it; pending ones stayed.
    with store.db.session() as session:
        left = set(session.scalars(select(OutboxMessage.job_id)))
        artifacts_of = set(session.scalars(select(Artifact.job_id)))
        datasets = {j.id: j.dataset_id for j in session.scalars(select(Job))}
    assert gone.id not in left and undelivered.id in left and recent.id in left
    # An old plot goes unless a pending message still attaches it.
    assert artifacts_of == {undelivered.id, recent.id}
    # Old uploads go unless a queued or running job will read them.
    assert datasets[waiting.id] is not None and datasets[undelivered.id] is None
    assert datasets[recent.id] is not None
    assert pruned.jobs == 1 and pruned.datasets == 3 and pruned.artifacts == 1
    assert pruned.outbox == 4  # the delivered replies of `behind` and `gone`
    # Models are never pruned: the chat's active model is still there and active.
    assert len(store.records.list_models(CHAT)) == 4
    assert store.records.active_model(CHAT).id == active_before.id

    assert prune(store.db, EVERYTHING_OLD) == Pruned()  # nothing more to do


def test_an_age_of_zero_keeps_everything(chat: Store) -> None:
    a_finished_training(chat, OLD)
    assert prune(chat.db, Retention(0, 0, 0, 0)) == Pruned()
    assert len(rows(chat, Job)) == 1 and len(rows(chat, Artifact)) == 1


def test_trainbot_db_prune_follows_the_settings(
    chat: Store, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys
) -> None:
    a_finished_training(chat, OLD)
    monkeypatch.chdir(tmp_path)  # no .env from the working directory
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("TRAINBOT_KEEP_JOBS_DAYS", "0")
    assert cli.main(["db", "prune"]) == 0
    assert "0 finished jobs" in capsys.readouterr().out
    assert len(rows(chat, Job)) == 1
    monkeypatch.setenv("TRAINBOT_KEEP_JOBS_DAYS", "90")
    assert cli.main(["db", "prune"]) == 0
    assert "1 finished jobs" in capsys.readouterr().out
    assert rows(chat, Job) == set()
