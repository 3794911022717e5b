"""Chat-scoped records, the outbox and migrations, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import inspect

from storage.db import HEAD_REVISION, Database
from storage.models import JobKind
from storage.records import ChatRef, UserRef
from storage.results import NewArtifact, NewMessage, NewModel
from storage.store import Store

CHAT, OTHER_CHAT = -100500, 42


def train_and_finish(store: Store, chat_id: int) -> int:
    """Run one training job through the queue; return the id of its plot artifact's job."""
    store.records.remember(ChatRef(chat_id, "group", "Lab"), UserRef(1, "ann", "Ann"))
    dataset = store.records.save_dataset(
        chat_id, user_id=1, filename="data.csv", content=b"x,y\n1,2\n", n_rows=1, columns=["x", "y"]
    )
    store.queue.enqueue(JobKind.TRAIN, chat_id=chat_id, user_id=1, params={}, dataset_id=dataset.id)
    job = store.queue.claim("w")
    assert store.records.dataset_content(chat_id, job.dataset_id) == b"x,y\n1,2\n"
    store.queue.complete(
        job,
        result={},
        artifacts=[NewArtifact("plot", "plot", "p.png", "image/png", b"png")],
        messages=[NewMessage("plot", artifact_key="plot")],
        model=NewModel(b"k", {}, ["x"], "y", [[0, 1]], {}, "jax", "cpu"),
    )
    return job.id


def test_models_are_versioned_per_chat_and_one_is_active(store: Store) -> None:
    train_and_finish(store, CHAT)
    train_and_finish(store, CHAT)
    train_and_finish(store, OTHER_CHAT)
    assert [m.version for m in store.records.list_models(CHAT)] == [2, 1]
    assert store.records.active_model(CHAT).version == 2
    assert store.records.active_model(OTHER_CHAT).version == 1

    assert store.records.activate_model(CHAT, 1).version == 1
    assert store.records.active_model(CHAT).version == 1
    assert store.records.get_model(CHAT, 2, with_file=True).keras_file == b"k"

    assert store.records.delete_model(CHAT, 1)
    assert store.records.active_model(CHAT) is None
    assert [m.version for m in store.records.list_models(CHAT)] == [2]


def test_another_chats_models_datasets_and_artifacts_look_missing(store: Store) -> None:
    job_id = train_and_finish(store, CHAT)
    store.records.remember(ChatRef(OTHER_CHAT))
    model = store.records.active_model(CHAT)
    [artifact] = store.records.job_artifacts(CHAT, job_id)

    assert store.records.get_model(OTHER_CHAT, model.version) is None
    assert store.records.model_by_id(OTHER_CHAT, model.id) is None
    assert store.records.activate_model(OTHER_CHAT, model.version) is None
    assert not store.records.delete_model(OTHER_CHAT, model.version)
    assert store.records.job_artifacts(OTHER_CHAT, job_id) == []
    assert store.records.get_artifact(OTHER_CHAT, artifact.id) is None
    assert store.records.get_artifact(CHAT, artifact.id).content == b"png"
    job = store.records.get_job(CHAT, job_id)
    assert store.records.dataset_content(OTHER_CHAT, job.dataset_id) is None
    assert store.records.active_model(CHAT) is not None


def test_outbox_delivery_marks_survive_reopening_the_database(database_url: str) -> None:
    store = Store.open(database_url)
    train_and_finish(store, CHAT)
    [message] = store.outbox.pending()
    store.outbox.retry_later(message.id, "429", delay_seconds=3600)
    assert store.outbox.pending() == []
    store.close()

    reopened = Store.open(database_url)
    with reopened.db.session() as session:
        from storage.models import OutboxMessage, utcnow

        session.get(OutboxMessage, message.id).next_attempt_at = utcnow()
    [again] = reopened.outbox.pending()
    assert again.attempts == 1 and again.last_error == "429"
    reopened.outbox.mark_delivered(again.id, telegram_message_id=77)
    assert reopened.outbox.pending() == []
    reopened.close()


def test_progress_changes_list_jobs_whose_message_is_behind(store: Store) -> None:
    store.records.remember(ChatRef(CHAT))
    job = store.queue.enqueue(JobKind.TRAIN, chat_id=CHAT, user_id=None, params={})
    assert store.outbox.progress_changes() == []
    store.records.set_progress_message(CHAT, job.id, 555)
    store.records.set_progress_message(OTHER_CHAT, job.id, 666)  # another chat: ignored
    claimed = store.queue.claim("w")
    [changed] = store.outbox.progress_changes()
    assert changed.message_id == 555
    store.outbox.mark_progress_shown(job.id, changed.job.revision, "▶ running")
    assert store.outbox.progress_changes() == []
    store.queue.record_progress(claimed, epoch=1, total=2, loss=1.0, val_loss=None, eta_seconds=1)
    [changed] = store.outbox.progress_changes()
    assert changed.shown_text == "▶ running"


def test_the_worker_registry_tells_live_workers(store: Store) -> None:
    store.workers.register("w1", hostname="h", pid=1, backend="jax", device="cpu")
    store.workers.register("w2", hostname="h", pid=2, backend="jax", device="cpu")
    store.workers.beat("w1", current_job_id=5)
    store.workers.stopped("w2")
    [alive] = store.workers.alive(within_seconds=60)
    assert (alive.name, alive.current_job_id) == ("w1", 5)


def test_migrations_upgrade_an_empty_database_and_downgrade_again(database_url: str) -> None:
    db = Database(database_url)
    assert db.current_revision() is None
    db.upgrade()
    assert db.current_revision() == db.head_revision() == HEAD_REVISION == "0006"
    tables = set(inspect(db.engine).get_table_names())
    expected = {"chats", "users", "datasets", "jobs", "models", "artifacts", "outbox", "workers"}
    expected.add("progress_messages")
    assert expected <= tables
    db.upgrade()  # idempotent: a second start changes nothing
    db.downgrade("base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    db.dispose()
