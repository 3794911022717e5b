"""The numbers behind an open bot's quotas: a user's recent trainings, a chat's stored bytes."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

from storage.models import Artifact, Job, JobKind, Model, Upload
from storage.records import ChatRef
from storage.store import Store
from tests.test_storage_retention import days_ago

CHAT, OTHER_CHAT = 31337, 4242
USER, OTHER_USER = 7, 8
HOUR = 3600.0
MINUTE_DAYS = 60.0 / 86_400


@pytest.fixture
def chats(store: Store) -> Store:
    store.records.remember(ChatRef(CHAT))
    store.records.remember(ChatRef(OTHER_CHAT))
    return store


def a_job(store: Store, kind: JobKind, *, user: int, chat: int = CHAT, minutes_ago: float) -> int:
    job = store.queue.enqueue(kind, chat_id=chat, user_id=user, params={})
    days_ago(store, Job, job.id, minutes_ago * MINUTE_DAYS, "created_at")
    return job.id


def test_a_users_trainings_of_the_last_hour_count_in_every_chat(chats: Store) -> None:
    store = chats
    a_job(store, JobKind.TRAIN, user=USER, minutes_ago=50)
    a_job(store, JobKind.TRAIN, user=USER, chat=OTHER_CHAT, minutes_ago=20)
    a_job(store, JobKind.TRAIN, user=USER, minutes_ago=5)
    # None of these count: too old, a prediction, someone else's.
    a_job(store, JobKind.TRAIN, user=USER, minutes_ago=61)
    a_job(store, JobKind.PREDICT, user=USER, minutes_ago=1)
    a_job(store, JobKind.TRAIN, user=OTHER_USER, minutes_ago=1)

    under = store.quotas.recent_trainings(USER, limit=4, window_seconds=HOUR)
    full = store.quotas.recent_trainings(USER, limit=3, window_seconds=HOUR)
    lowered = store.quotas.recent_trainings(USER, limit=2, window_seconds=HOUR)

    assert under.count == 3 and under.wait_seconds == 0
    # Full: the 50-minute-old one leaves the window in about 10 minutes.
    assert full.count == 3 and 9 * 60 < full.wait_seconds <= 10 * 60
    # With a limit of 2, one of the two newest must leave: the 20-minute-old, in 40 minutes.
    assert lowered.count == 2 and 39 * 60 < lowered.wait_seconds <= 40 * 60
    assert store.quotas.recent_trainings(OTHER_USER, limit=1, window_seconds=HOUR).count == 1


def test_a_chats_stored_bytes_add_its_uploads_models_and_files_only(chats: Store) -> None:
    store = chats
    empty = store.quotas.stored_bytes(CHAT)
    assert empty.total == 0 and empty.oldest_upload_age is None and empty.oldest_file_age is None

    upload = store.records.save_dataset(
        CHAT, user_id=USER, filename="a.csv", content=b"u" * 1000, n_rows=1, columns=["x", "y"]
    )
    days_ago(store, Upload, upload.id, 2.0, "created_at")
    store.records.save_dataset(
        OTHER_CHAT, user_id=USER, filename="b.csv", content=b"o" * 5000, n_rows=1, columns=["x"]
    )
    with store.db.session() as session:
        for chat, version, size in ((CHAT, 1, 300), (CHAT, 2, 200), (OTHER_CHAT, 1, 9000)):
            session.add(
                Model(
                    chat_id=chat,
                    version=version,
                    keras_file=b"k" * size,
                    target_name="y",
                    backend="jax",
                    device="cpu",
                )
            )
        plot = Artifact(
            chat_id=CHAT, kind="plot", filename="p.png", content_type="image/png",
            content=b"p" * 40, size_bytes=40,
        )  # fmt: skip
        session.add(plot)
        session.flush()
        plot_id = plot.id
    days_ago(store, Artifact, plot_id, 1.0, "created_at")

    stored = store.quotas.stored_bytes(CHAT)

    assert (stored.uploads, stored.models, stored.files) == (1000, 500, 40)
    assert stored.total == 1540
    assert stored.oldest_upload_age == pytest.approx(2 * 86_400, abs=60)
    assert stored.oldest_file_age == pytest.approx(86_400, abs=60)


def test_the_users_jobs_are_indexed_for_the_hourly_count(store: Store) -> None:
    indexes = inspect(store.db.engine).get_indexes("jobs")
    assert {"name": "ix_jobs_user_kind_created", "columns": ["user_id", "kind", "created_at"]} in [
        {"name": i["name"], "columns": i["column_names"]} for i in indexes
    ]
