"""A group that became a supergroup takes everything it owns to its new id (SQLite, PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from storage.chats import Migration, migrate_chat
from storage.models import (
    Artifact,
    Chat,
    Job,
    JobKind,
    JobStatus,
    Model,
    OutboxMessage,
    ProgressMessage,
    Upload,
    utcnow,
)
from storage.store import Store

GROUP = -4242
SUPERGROUP = -1001234567890


def add_model(store: Store, chat_id: int, version: int, *, active: bool, age: float = 0) -> int:
    with store.db.session() as session:
        if session.get(Chat, chat_id) is None:
            session.add(Chat(id=chat_id, type="group", title="Lab"))
            session.flush()
        model = Model(
            chat_id=chat_id,
            version=version,
            is_active=active,
            keras_file=b"keras",
            target_name="y",
            backend="tensorflow",
            device="cpu",
            created_at=utcnow() - timedelta(seconds=age),
        )
        session.add(model)
        session.flush()
        return model.id


def fill_the_group(store: Store) -> dict[str, int]:
    add_model(store, GROUP, 1, active=False, age=60)
    add_model(store, GROUP, 2, active=True, age=30)
    with store.db.session() as session:
        dataset = Upload(
            chat_id=GROUP, filename="d.csv", content=b"x,y\n", sha256="0" * 64, size_bytes=4,
            n_rows=0, n_columns=2,
        )  # fmt: skip
        session.add(dataset)
        session.flush()
        job = Job(
            kind=JobKind.TRAIN, chat_id=GROUP, dataset_id=dataset.id, reply_to_message_id=5,
            revision=3,
        )  # fmt: skip
        session.add(job)
        session.flush()
        session.add(ProgressMessage(job_id=job.id, message_id=6))
        artifact = Artifact(
            chat_id=GROUP, job_id=job.id, kind="plot", filename="p.png",
            content_type="image/png", content=b"png", size_bytes=3,
        )  # fmt: skip
        session.add(artifact)
        session.flush()
        pending = OutboxMessage(
            chat_id=GROUP, job_id=job.id, kind="train_plot", artifact_id=artifact.id,
            reply_to_message_id=5,
        )  # fmt: skip
        delivered = OutboxMessage(chat_id=GROUP, kind="predictions", delivered_at=utcnow())
        session.add_all([pending, delivered])
        session.flush()
        return {
            "dataset": dataset.id,
            "job": job.id,
            "artifact": artifact.id,
            "pending": pending.id,
            "delivered": delivered.id,
        }


def test_everything_the_group_owns_moves_to_the_supergroup(store: Store) -> None:
    ids = fill_the_group(store)

    moved = migrate_chat(store.db, GROUP, SUPERGROUP)

    assert moved == Migration(models=2, jobs=1, datasets=1, artifacts=1, messages=1)
    records = store.records
    assert [m.version for m in records.list_models(SUPERGROUP)] == [2, 1]
    active = records.active_model(SUPERGROUP)
    assert active is not None and active.version == 2
    assert records.list_models(GROUP) == [] and records.active_model(GROUP) is None
    assert records.dataset_content(SUPERGROUP, ids["dataset"]) == b"x,y\n"
    assert records.get_artifact(SUPERGROUP, ids["artifact"]) is not None
    job = records.get_job(SUPERGROUP, ids["job"])
    # Message ids of the old chat mean nothing in the new one.
    assert job is not None and job.reply_to_message_id is None
    assert store.outbox.progress_changes() == []  # the old chat's progress message is let go
    [pending] = store.outbox.pending()
    assert (pending.id, pending.chat_id, pending.reply_to_message_id) == (
        ids["pending"],
        SUPERGROUP,
        None,
    )
    with store.db.session() as session:
        new_chat = session.get(Chat, SUPERGROUP)
        assert new_chat is not None and (new_chat.type, new_chat.title) == ("supergroup", "Lab")
        delivered = session.get(OutboxMessage, ids["delivered"])
        assert delivered is not None and delivered.chat_id == GROUP  # history stays


def test_a_second_migration_finds_nothing_to_move(store: Store) -> None:
    fill_the_group(store)
    migrate_chat(store.db, GROUP, SUPERGROUP)
    assert migrate_chat(store.db, GROUP, SUPERGROUP) == Migration()
    assert not migrate_chat(store.db, SUPERGROUP, SUPERGROUP).moved_anything


def test_versions_the_supergroup_has_already_are_kept_and_the_newest_model_stays_active(
    store: Store,
) -> None:
    add_model(store, GROUP, 1, active=False, age=60)
    add_model(store, GROUP, 2, active=True, age=30)
    theirs = add_model(store, SUPERGROUP, 1, active=True, age=1)

    migrate_chat(store.db, GROUP, SUPERGROUP)

    with store.db.session() as session:
        rows = session.scalars(select(Model).where(Model.chat_id == SUPERGROUP)).all()
        versions = {m.version: (m.id == theirs, m.is_active) for m in rows}
    # The supergroup's own v1 is untouched and, as the newest, still active; the group's v1
    # became v3, its v2 kept its number.
    assert versions == {1: (True, True), 2: (False, False), 3: (False, False)}


def test_a_result_stored_under_the_old_id_after_the_move_follows_it(store: Store) -> None:
    # A job that was running during the migration stores its model under the old id; the next
    # migration (delivery meets ChatMigrated for its reply) moves it, and it becomes active.
    add_model(store, GROUP, 1, active=True, age=60)
    migrate_chat(store.db, GROUP, SUPERGROUP)
    with store.db.session() as session:
        session.add(Job(kind=JobKind.TRAIN, chat_id=GROUP, status=JobStatus.SUCCEEDED))
    add_model(store, GROUP, 2, active=True)

    assert migrate_chat(store.db, GROUP, SUPERGROUP).models == 1

    active = store.records.active_model(SUPERGROUP)
    assert active is not None and active.version == 2
    assert [m.version for m in store.records.list_models(SUPERGROUP)] == [2, 1]
