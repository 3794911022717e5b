"""Which model is which: a model keeps its file and trainer, a chat never reuses a version, and
every message of a job names the model it is about."""

from __future__ import annotations

from sqlalchemy import text

from storage.chats import migrate_chat
from storage.db import Database
from storage.records import ChatRef, UserRef
from storage.store import Store
from tests.test_storage_records import CHAT, OTHER_CHAT, train_and_finish


def test_a_deleted_version_is_never_given_again(store: Store) -> None:
    for _ in range(3):
        train_and_finish(store, CHAT)
    assert store.records.delete_model(CHAT, 3)
    train_and_finish(store, CHAT)
    assert [m.version for m in store.records.list_models(CHAT)] == [4, 2, 1]
    # Every model gone: still no number given twice.
    for version in (4, 2, 1):
        assert store.records.delete_model(CHAT, version)
    train_and_finish(store, CHAT)
    assert [m.version for m in store.records.list_models(CHAT)] == [5]
    train_and_finish(store, OTHER_CHAT)  # another chat counts on its own
    assert store.records.active_model(OTHER_CHAT).version == 1


def test_a_model_keeps_its_file_and_trainer_and_its_messages_name_them(store: Store) -> None:
    train_and_finish(store, CHAT)
    first = store.records.active_model(CHAT)
    assert (first.filename, first.user_id) == ("data.csv", 1)
    train_and_finish(store, CHAT)
    [*_, summary] = [m for m in store.outbox.pending() if m.chat_id == CHAT]
    model, replaced = summary.payload["model"], summary.payload["replaced"]
    assert (model["version"], model["filename"], model["trained_by"], model["group"]) == (
        2, "data.csv", "Ann", True,
    )  # fmt: skip
    assert model["created_at"].startswith("20")
    assert replaced["version"] == 1


def test_the_migration_names_old_models_and_starts_each_counter_at_its_highest(
    database_url: str,
) -> None:
    db = Database(database_url)
    db.upgrade("0004")
    with db.engine.begin() as connection:
        connection.execute(text("INSERT INTO chats (id, type, created_at) VALUES (7, 'private', "
                                "CURRENT_TIMESTAMP)"))  # fmt: skip
        connection.execute(text(
            "INSERT INTO datasets (id, chat_id, user_id, filename, content, sha256, size_bytes, "
            "n_rows, n_columns, columns, created_at) VALUES (901, 7, 5, 'prices.csv', '', '', 0, "
            "1, 2, '[]', CURRENT_TIMESTAMP)"
        ))  # fmt: skip
        connection.execute(text(
            "INSERT INTO jobs (id, kind, status, chat_id, user_id, dataset_id, params, priority, "
            "created_at, run_after, attempts, max_attempts, timeout_seconds, cancel_requested, "
            "revision) VALUES (901, 'train', 'succeeded', 7, 5, 901, '{}', 0, CURRENT_TIMESTAMP, "
            "CURRENT_TIMESTAMP, 1, 3, 60, false, 0)"
        ))  # fmt: skip
        for version in (1, 3):
            connection.execute(text(
                "INSERT INTO models (chat_id, job_id, version, is_active, keras_file, scaling, "
                "feature_names, target_name, feature_ranges, metrics, backend, device, "
                f"created_at) VALUES (7, 901, {version}, false, '', '{{}}', '[]', 'y', '[]', "
                "'{}', 'jax', 'cpu', CURRENT_TIMESTAMP)"
            ))  # fmt: skip
    db.upgrade()
    db.dispose()
    store = Store.open(database_url, lease_seconds=30.0)
    try:
        assert [(m.version, m.filename, m.user_id) for m in store.records.list_models(7)] == [
            (3, "prices.csv", 5), (1, "prices.csv", 5),
        ]  # fmt: skip
        assert store.records.delete_model(7, 3)
        store.records.remember(ChatRef(7), UserRef(5, "bo", "Bo"))
        train_and_finish(store, 7)
        assert store.records.active_model(7).version == 4
    finally:
        store.close()


def test_a_group_that_becomes_a_supergroup_keeps_counting(store: Store) -> None:
    for _ in range(3):
        train_and_finish(store, CHAT)
    assert store.records.delete_model(CHAT, 3)
    supergroup = -1009990001
    migrate_chat(store.db, CHAT, supergroup)
    train_and_finish(store, supergroup)
    assert [m.version for m in store.records.list_models(supergroup)] == [4, 2, 1]
