"""Telegram's flood limits, per chat: a 429 for one chat holds back that chat's replies alone.

The rate limiter on its own (a real ExtBot against the fake Bot API server), then end to end:
the real Application answering commands, and the delivery loop sending a worker's answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from telegram.error import RetryAfter
from telegram.ext import ExtBot

from bot.flood import PerChatRateLimiter
from tests.fake_telegram import Call, ChatMessage, FakeTelegram
from tests.test_bot_e2e import CHAT, OTHER_CHAT, QUICK, TRAINING_TIMEOUT, World, world_of
from tests.test_bot_resilience import give_models

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

# Long enough that "meanwhile" means something on a slow machine, short enough for a test.
RETRY_AFTER = 4
GROUP = -4242


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        for chat in (CHAT, OTHER_CHAT, GROUP):
            server.add_chat(chat)
        yield server


def limited_bot(tg: FakeTelegram, limiter: PerChatRateLimiter) -> ExtBot[int]:
    return ExtBot(
        tg.token, base_url=tg.base_url, base_file_url=tg.base_file_url, rate_limiter=limiter
    )


async def first_429(tg: FakeTelegram, chat_id: int) -> Call:
    """The 429 the fake answered to a call for this chat, once it has."""
    for _ in range(int(QUICK / 0.02)):
        for call in tg.failed_calls:
            if call.error_code == 429 and call.params.get("chat_id") == chat_id:
                return call
        await asyncio.sleep(0.02)
    raise AssertionError(f"no 429 for chat {chat_id}: {[c.summary() for c in tg.failed_calls]}")


def delivered_at(tg: FakeTelegram, chat_id: int, text: str) -> float:
    [call] = [
        c for c in tg.calls_to("sendMessage")
        if c.params.get("chat_id") == chat_id and text in str(c.params.get("text"))
    ]  # fmt: skip
    return call.time


# -- the limiter -----------------------------------------------------------------------------


async def test_a_429_holds_back_its_chat_while_other_chats_go_on(tg: FakeTelegram) -> None:
    tg.fail_next("sendMessage", status=429, retry_after=RETRY_AFTER, chat_id=CHAT)
    async with limited_bot(tg, PerChatRateLimiter(max_retries=1)) as bot:
        held = asyncio.create_task(bot.send_message(CHAT, "held"))
        refused = await first_429(tg, CHAT)
        for i in range(3):
            await bot.send_message(OTHER_CHAT, f"meanwhile {i}")
        assert not held.done(), "the held chat's message must wait for its retry_after"
        await held

    assert [m.text for m in tg.sent(OTHER_CHAT)] == [f"meanwhile {i}" for i in range(3)]
    assert [m.text for m in tg.sent(CHAT)] == ["held"]
    # The other chat did not wait for the held one; the held one waited what Telegram asked.
    assert delivered_at(tg, OTHER_CHAT, "meanwhile 2") < delivered_at(tg, CHAT, "held")
    assert delivered_at(tg, CHAT, "held") - refused.time >= RETRY_AFTER


async def test_every_request_of_a_held_chat_waits_and_the_last_retry_gives_up(
    tg: FakeTelegram,
) -> None:
    tg.fail_next("sendMessage", status=429, retry_after=1, chat_id=CHAT, times=2)
    async with limited_bot(tg, PerChatRateLimiter(max_retries=1)) as bot:
        with pytest.raises(RetryAfter):  # a 429, and a 429 again on its one retry
            await bot.send_message(CHAT, "given up")
        refused = tg.failed_calls[-1].time
        # The chat is still held from the second 429: its next message waits it out too.
        await bot.send_message(CHAT, "later")
        # A call's own number of retries wins over the limiter's.
        tg.fail_next("sendMessage", status=429, retry_after=1, chat_id=OTHER_CHAT, times=2)
        await bot.send_message(OTHER_CHAT, "third time lucky", rate_limit_args=2)

    assert [m.text for m in tg.sent(CHAT)] == ["later"]
    assert delivered_at(tg, CHAT, "later") - refused >= 1
    assert [m.text for m in tg.sent(OTHER_CHAT)] == ["third time lucky"]


async def test_the_per_group_limit_still_applies_and_private_chats_pass_it(
    tg: FakeTelegram,
) -> None:
    # Two messages a second to a group (Telegram's is 20 a minute), none to a private chat.
    limiter = PerChatRateLimiter(group_max_rate=2, group_time_period=1.0)
    async with limited_bot(tg, limiter) as bot:
        to_group = [asyncio.create_task(bot.send_message(GROUP, f"g{i}")) for i in range(4)]
        await asyncio.sleep(0)
        await bot.send_message(CHAT, "private")
        await asyncio.gather(*to_group)

    times = sorted(c.time for c in tg.calls_to("sendMessage") if c.params["chat_id"] == GROUP)
    assert len(times) == 4
    assert times[-1] - times[0] >= 0.5  # the bucket let two through, then one each 0.5 s
    assert delivered_at(tg, CHAT, "private") < times[-1]


# -- end to end ------------------------------------------------------------------------------


async def answered_in_turn(
    world: World, chat_id: int, texts: list[str], contains: str
) -> list[ChatMessage]:
    """Each text sent once the answer to the one before has come."""
    return [
        await world.reply_to(world.tg.send_text(chat_id, text), contains=contains) for text in texts
    ]


async def test_a_429_in_one_chat_does_not_delay_another_chats_answers(
    database_url: str,
) -> None:
    async with world_of(database_url, worker=False) as world:
        tg = world.tg
        tg.fail_next("sendMessage", status=429, retry_after=RETRY_AFTER, chat_id=CHAT)
        held = tg.send_text(CHAT, "/help")
        refused = await first_429(tg, CHAT)

        others = await answered_in_turn(world, OTHER_CHAT, ["/help", "/start", "/models"], "")
        answer = await world.reply_to(held, contains="Training")

        # The other chat's three answers went out while this chat waited what Telegram asked.
        assert max(m.sent_at for m in others) < answer.sent_at
        assert answer.sent_at - refused.time >= RETRY_AFTER
        assert len(world.bot_messages(CHAT)) == 1


async def test_delivery_sends_other_chats_answers_while_one_chat_waits_out_a_429(
    database_url: str,
) -> None:
    async with world_of(database_url) as world:
        tg = world.tg
        await asyncio.to_thread(give_models, world, [CHAT, OTHER_CHAT])
        # The first answer to each chat warms the worker's model cache.
        await answered_in_turn(world, CHAT, ["/predict 1"], "→ y ")
        await answered_in_turn(world, OTHER_CHAT, ["/predict 1"], "→ y ")
        tg.fail_next("sendMessage", status=429, retry_after=RETRY_AFTER, chat_id=CHAT)
        held = tg.send_text(CHAT, "/predict 2")
        refused = await first_429(tg, CHAT)

        others = await answered_in_turn(world, OTHER_CHAT, ["/predict 3", "/predict 4"], "→ y ")
        answer = await world.reply_to(held, contains="→ y ", within=TRAINING_TIMEOUT)

        assert max(m.sent_at for m in others) < answer.sent_at
        assert answer.sent_at - refused.time >= RETRY_AFTER
        assert sum("→ y " in m.content for m in world.bot_messages(CHAT)) == 2
