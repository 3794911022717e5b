"""An open bot is a public service, end to end (real bot, fake Bot API, SQLite and PostgreSQL):
quotas per user and per chat told in one sentence, Telegram's own upload limit and how to get
under it, retention that runs by itself, and a warning when anyone may use the bot.
"""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from storage.models import Chat, Job, Model, Upload
from storage.records import ChatRef
from storage.store import Store
from tests import test_storage_retention as retention
from tests.test_bot_e2e import CHAT, OTHER_CHAT, SMALL_CSV, bot_serving, world_of
from tests.waiting import until
from trainbot.settings import TELEGRAM_DOWNLOAD_BYTES, Settings

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


def queued_jobs(store: Store) -> list[int]:
    with store.db.session() as session:
        return list(session.scalars(select(Job.chat_id).order_by(Job.id)))


# -- trainings per user per hour -------------------------------------------------------------


async def test_a_user_over_the_hourly_training_limit_is_told_when_to_come_back(
    database_url: str,
) -> None:
    async with world_of(database_url, worker=False, TRAINBOT_TRAININGS_PER_HOUR="2") as world:
        tg = world.tg
        for _ in range(2):
            upload = tg.send_document(CHAT, "f.csv", SMALL_CSV, caption="/train")
            await world.reply_to(upload, contains="Job")

        refused = tg.send_document(CHAT, "f.csv", SMALL_CSV, caption="/train")
        answer = await world.reply_to(refused, contains="trainings in the last hour")
        asked_first = await world.reply_to(tg.send_text(CHAT, "/train"), contains="last hour")
        # Someone else may still train.
        other = tg.send_document(OTHER_CHAT, "f.csv", SMALL_CSV, caption="/train")
        await world.reply_to(other, contains="Job")

        assert "You've started 2 trainings" in answer.content
        assert re.search(r"train again in (59 min|1 h)", answer.content), answer.content
        assert "OK – now" not in asked_first.content  # not asked for a file it would refuse
        assert await asyncio.to_thread(queued_jobs, world.store) == [CHAT, CHAT, OTHER_CHAT]
        assert len(tg.downloads) == 3  # the refused file was never downloaded


# -- bytes kept per chat ---------------------------------------------------------------------


def fill_chat(store: Store, model_bytes: int, upload_bytes: int, upload_age_days: float) -> None:
    """The chat has a model and an older upload, as if it had trained a while ago."""
    with store.db.session() as session:
        session.add(Chat(id=CHAT, type="private"))
        session.add(
            Model(
                chat_id=CHAT,
                version=1,
                is_active=True,
                keras_file=b"k" * model_bytes,
                target_name="y",
                feature_names=["x"],
                backend="jax",
                device="cpu",
            )
        )
    upload = store.records.save_dataset(
        CHAT, user_id=CHAT, filename="old.csv", content=b"u" * upload_bytes, n_rows=1,
        columns=["x", "y"],
    )  # fmt: skip
    retention.days_ago(store, Upload, upload.id, upload_age_days, "created_at")


async def test_a_chat_over_its_stored_bytes_is_told_what_to_delete_or_how_long_to_wait(
    database_url: str,
) -> None:
    async with world_of(database_url, worker=False, TRAINBOT_MAX_BYTES_PER_CHAT="1000000") as world:
        tg = world.tg
        await asyncio.to_thread(fill_chat, world.store, 600_000, 300_000, 2.0)

        refused = tg.send_document(CHAT, "f.csv", SMALL_CSV, caption="/train", file_size=200_000)
        answer = await world.reply_to(refused, contains="This chat keeps")
        as_inputs = tg.send_document(
            CHAT, "in.csv", SMALL_CSV, caption="/predict", file_size=200_000
        )
        await world.reply_to(as_inputs, contains="This chat keeps")

        assert "keeps 900 kB" in answer.content and "the 1.0 MB it may keep" in answer.content
        assert "/delete v2" in answer.content
        # Uploads are kept 7 days and this one is 2 days old; the bot prunes every hour.
        assert "try again in 5 days 1 h" in answer.content
        assert not tg.downloads and not await asyncio.to_thread(queued_jobs, world.store)

        await world.reply_to(tg.send_text(CHAT, "/delete v1"), contains="Deleted model v1")
        accepted = tg.send_document(CHAT, "f.csv", SMALL_CSV, caption="/train")
        await world.reply_to(accepted, contains="Job")
        assert await asyncio.to_thread(queued_jobs, world.store) == [CHAT]


# -- the upload limit ------------------------------------------------------------------------


async def test_the_upload_limit_is_telegrams_20_mb_and_a_bigger_file_is_told_how_to_shrink(
    database_url: str,
) -> None:
    assert Settings().max_upload_bytes == TELEGRAM_DOWNLOAD_BYTES == 20_000_000
    async with world_of(database_url, worker=False) as world:
        tg = world.tg
        over = tg.send_document(
            CHAT, "big.csv", SMALL_CSV, caption="/train", file_size=TELEGRAM_DOWNLOAD_BYTES + 1
        )
        answer = await world.reply_to(over, contains="20.0 MB")
        assert "fewer rows" in answer.content and "zipped CSV" in answer.content
        assert not tg.calls_to("getFile")
        # 15 MB was over the old 10 MB limit; it is taken now.
        under = tg.send_document(CHAT, "f.csv", SMALL_CSV, caption="/train", file_size=15_000_000)
        await world.reply_to(under, contains="Job")


# -- retention and the warning at start ------------------------------------------------------


def old_history(store: Store) -> tuple[int, int]:
    """Two trainings of long ago: their uploads, plots, replies and jobs are old, and so is
    the first model, which the second replaced. (superseded, active) model ids."""
    store.records.remember(ChatRef(retention.CHAT))
    retention.a_finished_training(store, retention.OLD)
    retention.a_finished_training(store, retention.OLD)
    models = sorted(store.records.list_models(retention.CHAT), key=lambda m: m.version)
    for model in models:
        retention.days_ago(store, Model, model.id, retention.OLD, "created_at")
    return models[0].id, models[1].id


async def test_retention_runs_by_itself_and_keeps_the_active_model(database_url: str) -> None:
    async with world_of(database_url, worker=False, bot=False) as world:
        store = world.store
        superseded, active = await asyncio.to_thread(old_history, store)
        assert world.settings.prune_interval > 0  # the defaults, nothing turned on

        async with bot_serving(store, world.settings):
            await until(lambda: not retention.rows(store, Job), within=30)

        assert not retention.rows(store, Upload)
        assert retention.rows(store, Model) == {active}
        assert superseded != active
        assert store.records.active_model(retention.CHAT).id == active


async def test_an_open_bot_warns_at_start_and_one_with_an_allowlist_does_not(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database_url = f"sqlite:///{tmp_path / 'trainbot.sqlite3'}"
    with caplog.at_level(logging.WARNING, logger="bot.access"):
        async with world_of(database_url, worker=False):
            pass
        warnings = [r.getMessage() for r in caplog.records if r.name == "bot.access"]
        assert len(warnings) == 1
        assert "No allowlist is set" in warnings[0] and "anyone on Telegram" in warnings[0]
        assert "20 trainings an hour per user, 100.0 MB stored per chat" in warnings[0]

        caplog.clear()
        async with world_of(database_url, worker=False, TRAINBOT_ALLOWED_USERS=str(CHAT)):
            pass
        assert not [r for r in caplog.records if r.name == "bot.access"]
