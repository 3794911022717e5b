"""Two bot processes on one database (an accidental double deploy, a rolling restart) send
each reply once and in order: two real delivery loops, each with its own connections and its
own Bot, drain one outbox while replies keep coming, on a SQLite file and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from telegram import Bot

from bot.delivery import Delivery
from storage.models import Chat, OutboxMessage
from storage.store import Store
from tests.fake_telegram import FakeTelegram
from tests.waiting import until
from trainbot.settings import Settings

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

CHATS = (101, 102, 103, 104)
ROUNDS = 6
PER_ROUND = 5


def write_replies(store: Store, round_number: int) -> None:
    """PER_ROUND replies for every chat, as a worker would leave them, each named uniquely."""
    with store.db.session() as session:
        for chat in CHATS:
            if session.get(Chat, chat) is None:
                session.add(Chat(id=chat))
                session.flush()
            session.add_all(
                OutboxMessage(
                    chat_id=chat,
                    kind="job_failed",
                    payload={"job_id": 1, "error": f"reply {chat}-{round_number}-{n}"},
                )
                for n in range(PER_ROUND)
            )


async def delivery_loop(tg: FakeTelegram, database_url: str) -> AsyncIterator[Delivery]:
    """One bot process's delivery: its own store (engine, connections) and its own Bot."""
    store = Store.open(database_url)
    bot = Bot(tg.token, base_url=tg.base_url, base_file_url=tg.base_file_url)
    await bot.initialize()
    settings = Settings.from_env({"TRAINBOT_POLL_INTERVAL": "0.05"}, env_file=None)
    delivery = Delivery(bot, store, settings)
    delivery.start()
    try:
        yield delivery
    finally:
        await delivery.stop()
        await bot.shutdown()
        store.close()


async def test_two_bots_on_one_database_send_each_reply_once_and_in_order(
    store: Store, database_url: str
) -> None:
    expected = {
        chat: [f"reply {chat}-{r}-{n}" for r in range(ROUNDS) for n in range(PER_ROUND)]
        for chat in CHATS
    }
    async with FakeTelegram() as tg:
        for chat in CHATS:
            tg.add_chat(chat)
        first = delivery_loop(tg, database_url)
        second = delivery_loop(tg, database_url)
        one, two = await anext(first), await anext(second)
        try:
            for round_number in range(ROUNDS):
                await asyncio.to_thread(write_replies, store, round_number)
                await asyncio.sleep(0.1)
            total = len(CHATS) * ROUNDS * PER_ROUND
            await until(lambda: len(tg.sent()) >= total and not store.outbox.pending(), 120)
            await asyncio.sleep(0.5)  # a doubled send would arrive meanwhile
        finally:
            for loop in (first, second):
                with pytest.raises(StopAsyncIteration):
                    await anext(loop)
        sent = {chat: [m.content.split(": ", 1)[1] for m in tg.sent(chat)] for chat in CHATS}
    doubled = Counter(t for texts in sent.values() for t in texts) - Counter(
        t for texts in expected.values() for t in texts
    )
    assert not doubled, f"sent more than once: {sorted(doubled)}"
    assert sent == expected  # none lost, each chat's in the order they were written
    assert one.owner != two.owner


async def test_a_stopping_bot_hands_its_chats_to_the_other_at_once(
    store: Store, database_url: str
) -> None:
    async with FakeTelegram() as tg:
        for chat in CHATS:
            tg.add_chat(chat)
        first = delivery_loop(tg, database_url)
        await anext(first)
        await asyncio.to_thread(write_replies, store, 0)
        await until(lambda: not store.outbox.pending(), 60)
        with pytest.raises(StopAsyncIteration):
            await anext(first)  # stops, and lets go of its chats' leases
        with store.db.session() as session:
            assert all(session.get(Chat, chat).delivery_owner is None for chat in CHATS)
        second = delivery_loop(tg, database_url)
        await anext(second)
        try:
            await asyncio.to_thread(write_replies, store, 1)
            # Well within the 60 s lease the first bot had held: it was handed back.
            await until(lambda: not store.outbox.pending(), 30)
        finally:
            with pytest.raises(StopAsyncIteration):
                await anext(second)
        assert len(tg.sent()) == 2 * len(CHATS) * PER_ROUND
