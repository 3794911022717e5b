"""Fair, bounded and fail-soft, end to end: the real bot against the fake Bot API server, a real
worker thread and a real database (SQLite, PostgreSQL).

One chat flooding `/predict` cannot hold up another; a reply Telegram refuses is retried a
bounded number of times and the chat is told; HTML that Telegram cannot parse arrives as plain
text; forged webhook posts are refused; a group that becomes a supergroup keeps its models and
gets its replies; the heartbeat says whether the bot serves.
"""

from __future__ import annotations

import asyncio
import functools
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
from sqlalchemy import select

from bot import formatting, health, texts
from storage.models import Chat, Job, Model
from tests.test_bot_e2e import (
    CHAT,
    OTHER_CHAT,
    QUICK,
    SMALL_CSV,
    TRAINING_TIMEOUT,
    World,
    worker_thread,
    world_of,
)
from tests.waiting import until
from trainbot import cli
from trainbot.settings import ConfigError, Settings
from trainer.learn.training import train
from trainer.model_file.keras_file import save_model_bytes
from trainer.params import TrainParams
from trainer.tables.dataset import Dataset

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

FLOOD = 150
GROUP = -4242
SUPERGROUP = -1009876543210


@functools.cache
def quick_model() -> dict[str, Any]:
    """One three-epoch model for the whole session: these tests need answers, not accuracy."""
    x = np.arange(0.0, 50.0)
    result = train(Dataset(x[:, None], 2 * x + 1, ["x"], "y"), TrainParams(epochs=3))
    return {
        "keras_file": save_model_bytes(result),
        "scaling": result.scaling,
        "feature_names": ["x"],
        "target_name": "y",
        "feature_ranges": [list(r) for r in result.feature_ranges],
        "metrics": {},
        "backend": result.backend,
        "device": result.device,
    }


def give_models(world: World, chats: list[int]) -> None:
    """The quick model for each chat, stored as its active model (no job needed)."""
    fields = quick_model()
    with world.store.db.session() as session:
        for chat in chats:
            world.tg.add_chat(chat)
            session.add(Chat(id=chat, type="group" if chat < 0 else "private"))
            session.add(Model(chat_id=chat, version=1, is_active=True, **fields))


def answers(world: World, chat_id: int) -> list[str]:
    return [m.content for m in world.tg.sent(chat_id) if "→ y " in m.content]


def predict_jobs(world: World) -> list[tuple[int, int]]:
    """(job id, chat id) of every job, oldest first."""
    with world.store.db.session() as session:
        return [(j.id, j.chat_id) for j in session.scalars(select(Job).order_by(Job.id))]


def drained(world: World) -> Callable[[], bool]:
    def check() -> bool:
        counts = world.store.queue.counts()
        return not counts.queued and not counts.running and not world.store.outbox.pending()

    return check


# -- fairness ------------------------------------------------------------------------------


async def test_a_chat_flooding_predict_does_not_hold_up_another_chat(database_url: str) -> None:
    # No rate limit here: what is checked is that the bot itself serves chats side by side.
    async with world_of(database_url, TRAINBOT_PREDICT_LIMIT="100000") as world:
        await asyncio.to_thread(give_models, world, [CHAT, OTHER_CHAT])
        for i in range(FLOOD):
            world.tg.send_text(CHAT, f"/predict {i}")
        ask = world.tg.send_text(OTHER_CHAT, "/predict 7")

        answer = await world.reply_to(ask, contains="→ y ", within=TRAINING_TIMEOUT)

        flood_answered = len(answers(world, CHAT))
        jobs = await asyncio.to_thread(predict_jobs, world)
        [other_job] = [job for job, chat in jobs if chat == OTHER_CHAT]
        ahead = sum(1 for job, chat in jobs if chat == CHAT and job < other_job)
        # The other chat's request was taken up among the flood's first ones, not behind its
        # backlog (a shared slot per waiting update put it behind about 118 of them) ...
        assert ahead < FLOOD // 3, ahead
        # ... and its answer went out while the flood's answers were still going out.
        assert flood_answered < FLOOD, flood_answered
        assert "→ y " in answer.content


async def test_a_predict_flood_is_rate_limited_and_the_chat_told_once(database_url: str) -> None:
    # A long window, so that a slow machine cannot let the window pass during the flood.
    async with world_of(database_url, TRAINBOT_PREDICT_WINDOW="600") as world:
        limit = world.settings.predict_limit
        await asyncio.to_thread(give_models, world, [CHAT, OTHER_CHAT])
        for i in range(FLOOD):
            world.tg.send_text(CHAT, f"/predict {i}")
        ask = world.tg.send_text(OTHER_CHAT, "/predict 7")

        await world.reply_to(ask, contains="→ y ", within=TRAINING_TIMEOUT)
        await world.tg.wait_for(chat_id=CHAT, contains="Easy there", timeout=QUICK)
        await until(lambda: len(answers(world, CHAT)) >= limit)
        await until(drained(world))

        assert len(answers(world, CHAT)) == limit
        refusals = [m for m in world.tg.sent(CHAT) if "Easy there" in m.content]
        assert len(refusals) == 1, "the chat is told once, not once per refused request"
        assert f"at most {limit} /predict" in refusals[0].content
        jobs = await asyncio.to_thread(predict_jobs, world)
        assert sum(1 for _, chat in jobs if chat == CHAT) == limit  # no job for the refused


# -- bounded retries -----------------------------------------------------------------------


async def test_a_413_is_given_up_at_once_the_chat_told_and_its_next_message_sent(
    database_url: str,
) -> None:
    async with world_of(database_url, worker=False) as world:
        tg = world.tg
        tg.fail_next("sendPhoto", status=413, times=None)  # every try, as for a real huge file
        upload = tg.send_document(CHAT, "line.csv", SMALL_CSV, caption="/train epochs=3")
        await world.reply_to(upload, contains="Job")
        with worker_thread(world.store, world.settings):
            notice = await tg.wait_for(
                chat_id=CHAT, contains="couldn't send you the plot", timeout=TRAINING_TIMEOUT
            )
            summary = await tg.wait_for(chat_id=CHAT, contains="is ready", timeout=QUICK)
            await until(drained(world))

        assert "larger than Telegram accepts" in notice.content
        assert len(tg.calls_to("sendPhoto", failed=True)) == 1  # no retry can make it smaller
        assert notice.message_id < summary.message_id
        assert notice.reply_to is not None and notice.reply_to.message_id == upload["message_id"]


async def test_a_persistent_error_is_tried_a_bounded_number_of_times(database_url: str) -> None:
    async with world_of(database_url, worker=False, TRAINBOT_DELIVERY_ATTEMPTS="2") as world:
        tg = world.tg
        tg.fail_next("sendPhoto", status=500, times=None)
        # Progress edits fail for good too: each state is tried twice, then skipped, and the
        # chat's messages go on (an edit retried for ever used to hold them back).
        tg.fail_next("editMessageText", status=500, times=None)
        upload = tg.send_document(CHAT, "line.csv", SMALL_CSV, caption="/train epochs=3")
        ack = await world.reply_to(upload, contains="Job")
        with worker_thread(world.store, world.settings):
            notice = await tg.wait_for(
                chat_id=CHAT, contains="couldn't send you the plot", timeout=TRAINING_TIMEOUT
            )
            await tg.wait_for(chat_id=CHAT, contains="is ready", timeout=QUICK)
            await until(drained(world))

        assert "Telegram kept refusing it" in notice.content
        assert len(tg.calls_to("sendPhoto", failed=True)) == 2
        assert tg.calls_to("editMessageText", failed=True)
        assert not tg.edits(CHAT, ack.message_id)


# -- text for Telegram ---------------------------------------------------------------------


async def test_a_reply_telegram_cannot_parse_arrives_as_plain_text(database_url: str) -> None:
    refused = "Bad Request: can't parse entities: Can't find end tag corresponding to start tag"
    async with world_of(database_url, worker=False) as world:
        tg = world.tg
        # A handler's answer ...
        tg.fail_next("sendMessage", status=400, description=refused)
        welcome = await world.reply_to(tg.send_text(CHAT, "/start"))
        assert welcome.content == formatting.plain(texts.START)  # all of it, without the tags
        assert welcome.parse_mode is None and not welcome.entities
        # ... and a worker's (the summary, after the plot).
        tg.fail_next("sendMessage", status=400, description=refused)
        upload = tg.send_document(CHAT, "line.csv", SMALL_CSV, caption="/train epochs=3")
        await world.reply_to(upload, contains="Job")
        tg.fail_next("sendMessage", status=400, description=refused)
        with worker_thread(world.store, world.settings):
            summary = await tg.wait_for(chat_id=CHAT, contains="is ready", timeout=QUICK * 4)
            await until(drained(world))

        assert summary.parse_mode is None and "<" not in summary.content
        assert "Model v1 (line.csv, " in summary.content and "is ready" in summary.content
        assert not [m for m in tg.sent(CHAT) if "couldn't send" in m.content]


# -- webhook security ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def forged_update(chat_id: int, text: str) -> dict[str, object]:
    user = {"id": chat_id, "is_bot": False, "first_name": "Mallory"}
    message = {
        "message_id": 1,
        "date": 1_700_000_000,
        "chat": {"id": chat_id, "type": "private", "first_name": "Mallory"},
        "from": user,
        "text": text,
        "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}],
    }
    return {"update_id": 999_999, "message": message}


async def test_the_webhook_refuses_updates_without_its_secret(database_url: str) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram"
    webhook = {
        "TRAINBOT_WEBHOOK_URL": url,
        "TRAINBOT_WEBHOOK_LISTEN": "127.0.0.1",
        "TRAINBOT_WEBHOOK_PORT": str(port),
    }
    forger = 777
    async with world_of(database_url, worker=False, **webhook) as world:
        # No secret configured: the bot made one and gave it to Telegram.
        secret = world.tg.webhook["secret_token"]
        assert secret and len(secret) >= 32
        world.tg.add_chat(forger)
        async with aiohttp.ClientSession() as session:
            for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "guess"}):
                async with session.post(
                    url, json=forged_update(forger, "/start"), headers=headers
                ) as response:
                    assert response.status == 403, headers
            # The same update with the secret is taken (so the 403s were for the secret alone).
            async with session.post(
                url,
                json=forged_update(forger, "/help"),
                headers={"X-Telegram-Bot-Api-Secret-Token": secret},
            ) as response:
                assert response.status == 200

        await world.tg.wait_for(chat_id=forger, contains="Training", timeout=QUICK)
        welcome = await world.reply_to(world.tg.send_text(CHAT, "/start"))
        assert "Hi!" in welcome.content
        await asyncio.sleep(0.3)
        # Only the /help with the secret was acted on, never the forged /start.
        assert not [m for m in world.tg.sent(forger) if "Hi!" in m.content]


# -- a group becomes a supergroup ----------------------------------------------------------


async def test_a_reply_that_meets_chat_migrated_goes_to_the_supergroup(database_url: str) -> None:
    async with world_of(database_url, worker=False) as world:
        tg = world.tg
        await asyncio.to_thread(give_models, world, [GROUP])
        ask = tg.send_text(GROUP, "/predict@trainbot_test 5", chat_type="group")
        await until(lambda: world.store.queue.counts().queued == 1)
        # The group is upgraded while the answer is being computed; Telegram's notices are
        # late, so delivery meets ChatMigrated first.
        tg.migrate_chat(GROUP, SUPERGROUP, announce=False)
        with worker_thread(world.store, world.settings):
            answer = await tg.wait_for(chat_id=SUPERGROUP, contains="→ y ", timeout=QUICK)
            assert answer.reply_to is None  # the question's id belongs to the old chat
            again = await world.reply_to(tg.send_text(SUPERGROUP, "/predict@trainbot_test 6"))
            assert "→ y " in again.content

        assert [c for c in tg.calls_to("sendMessage", failed=True) if c.error_code == 400]
        assert not [m for m in tg.sent(GROUP) if "→ y " in m.content]
        assert ask["chat"]["id"] == GROUP
        assert world.store.records.active_model(GROUP) is None


async def test_the_upgrade_notice_moves_the_chat_before_anything_is_sent(
    database_url: str,
) -> None:
    async with world_of(database_url) as world:
        tg = world.tg
        await asyncio.to_thread(give_models, world, [GROUP])
        tg.migrate_chat(GROUP, SUPERGROUP)
        await until(lambda: world.store.records.active_model(SUPERGROUP) is not None)
        answer = await world.reply_to(tg.send_text(SUPERGROUP, "/predict@trainbot_test 3"))
        assert "→ y " in answer.content
        assert world.store.records.active_model(GROUP) is None
        assert not tg.calls_to("sendMessage", failed=True)


# -- health --------------------------------------------------------------------------------


async def test_the_heartbeat_beats_while_the_bot_serves_and_stops_with_it(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(health, "HEARTBEAT_SECONDS", 0.05)
    beat_file = str(tmp_path / "bot.heartbeat")
    monkeypatch.setenv("TRAINBOT_HEARTBEAT_FILE", beat_file)
    async with world_of(database_url, worker=False, TRAINBOT_HEARTBEAT_FILE=beat_file) as world:
        await until(lambda: health.check(world.settings.heartbeat_file) is None)
        assert await asyncio.to_thread(cli.main, ["health", "bot"]) == 0
    assert health.check(world.settings.heartbeat_file) is not None
    assert await asyncio.to_thread(cli.main, ["health", "bot"]) == 1


def test_a_stale_or_missing_heartbeat_fails_the_check(tmp_path: Path) -> None:
    path = tmp_path / "hb"
    assert "no heartbeat" in (health.check(path) or "")
    health.beat(path, now=1000.0)
    assert health.check(path, max_age=30, now=1020.0) is None
    assert "40 s old" in (health.check(path, max_age=30, now=1040.0) or "")
    path.write_text("garbage")
    assert "cannot read" in (health.check(path) or "")


def test_webhook_mode_always_has_a_valid_secret() -> None:
    webhook = {"TRAINBOT_WEBHOOK_URL": "https://bot.example.org/hook"}
    first = Settings.from_env(webhook, env_file=None).webhook_secret
    second = Settings.from_env(webhook, env_file=None).webhook_secret
    assert first and second and first != second and len(first) >= 32
    assert Settings.from_env({}, env_file=None).webhook_secret is None  # polling needs none
    given = Settings.from_env({**webhook, "TRAINBOT_WEBHOOK_SECRET": "s3cret_-X"}, env_file=None)
    assert given.webhook_secret == "s3cret_-X"
    with pytest.raises(ConfigError, match="TRAINBOT_WEBHOOK_SECRET is not valid"):
        Settings.from_env({**webhook, "TRAINBOT_WEBHOOK_SECRET": "no spaces!"}, env_file=None)
