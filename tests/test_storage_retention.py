"""Retention (the bot's hourly prune, `trainbot db prune`): old rows go, anything still needed
stays, and a chat's active and newest models are never touched."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, update

from storage.clock import db_now
from storage.models import Artifact, Job, JobKind, Model, OutboxMessage, Upload
from storage.records import ChatRef
from storage.results import NewArtifact, NewMessage, NewModel
from storage.retention import DAY_SECONDS, Pruned, Retention, prune
from storage.store import Store
from trainbot import cli
from trainbot.settings import Settings

CHAT = 31337
OLD, RECENT = 400.0, 1.0  # days ago
EVERYTHING_OLD = Retention(
    datasets_days=30, artifacts_days=30, outbox_days=7, jobs_days=90, models_days=180
)


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
    # The models were trained just now (only their jobs are old): all four stay.
    assert len(store.records.list_models(CHAT)) == 4
    assert store.records.active_model(CHAT).id == active_before.id

    assert prune(store.db, EVERYTHING_OLD) == Pruned()  # nothing more to do


def test_an_age_of_zero_keeps_everything(chat: Store) -> None:
    a_finished_training(chat, OLD)
    with chat.db.session() as session:
        old = db_now(-OLD * DAY_SECONDS)
        session.execute(update(Model).values(is_active=False, created_at=old))
    a_finished_training(chat, OLD)  # a newer model, so the first is neither active nor newest
    assert prune(chat.db, Retention(0, 0, 0, 0, 0)) == Pruned()
    assert len(rows(chat, Job)) == 2 and len(rows(chat, Artifact)) == 2
    assert len(rows(chat, Model)) == 2


def a_model(store: Store, chat_id: int, version: int, age: float, *, active: bool = False) -> int:
    with store.db.session() as session:
        model = Model(
            chat_id=chat_id, version=version, is_active=active, keras_file=b"k",
            target_name="y", backend="jax", device="cpu",
        )  # fmt: skip
        session.add(model)
        session.flush()
        model_id = model.id
    days_ago(store, Model, model_id, age, "created_at")
    return model_id


def test_old_models_go_but_never_a_chats_active_newest_or_needed_one(chat: Store) -> None:
    store = chat
    other_chat = CHAT + 1
    store.records.remember(ChatRef(other_chat))
    superseded = a_model(store, CHAT, 1, OLD)
    active = a_model(store, CHAT, 2, OLD, active=True)
    needed = a_model(store, CHAT, 3, OLD)
    store.queue.enqueue(
        JobKind.PREDICT, chat_id=CHAT, user_id=None, params={"csv": True}, model_id=needed
    )
    recent = a_model(store, CHAT, 4, RECENT)
    # Old and inactive, but its chat's newest: it stays, and v2 stays that chat's next number.
    newest_elsewhere = a_model(store, other_chat, 1, OLD)

    pruned = prune(store.db, Retention(0, 0, 0, 0, models_days=180))

    assert pruned == Pruned(models=1)
    assert rows(store, Model) == {active, needed, recent, newest_elsewhere}
    assert superseded not in rows(store, Model)
    assert store.records.active_model(CHAT).id == active


def test_retention_is_on_by_default_and_keeps_what_a_user_would_expect() -> None:
    defaults = Retention.from_settings(Settings())
    assert Settings().prune_interval > 0  # the bot prunes by itself
    assert defaults == Retention()
    assert 0 < defaults.datasets_days <= defaults.jobs_days
    assert defaults.artifacts_days > 0 and defaults.outbox_days > 0
    assert defaults.models_days >= 90


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
