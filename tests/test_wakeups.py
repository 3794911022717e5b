"""Wake-ups are never missed, whichever lane waits: with the poll interval set long, a job
enqueued by another process reaches the waiting worker (its prediction lane as well as its
training lane), and a job finished by another process reaches the bot's delivery, well before
a poll would have found them. On SQLite files and PostgreSQL.

The bounds are not speed targets: a missed wake-up costs the whole poll (5 s here, what the
worker's lane waits at most), while a wake-up heard costs milliseconds; the bounds sit far
from both.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from telegram import Bot

from bot.delivery import Delivery
from storage.models import JobKind
from storage.records import ChatRef
from storage.store import Store
from tests.fake_telegram import FakeTelegram
from tests.stand_ins import stand_in_training
from tests.waiting import until, wait_until
from trainbot.settings import Settings
from trainer import backend
from trainer.worker.loop import Worker

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

CHAT = 31
LONG_POLL = "30"
# Far under the 5 s a missed wake-up costs the worker (and the 30 s it costs delivery).
WELL_UNDER_SECONDS = 1.5

# Another process enqueues jobs one at a time, each kind in turn, with pauses in which the
# worker goes back to waiting.
ENQUEUE_SCRIPT = """
import sys, time
from storage.models import JobKind
from storage.store import Store
store = Store.open(sys.argv[1], upgrade=False)
for kind in [JobKind.PREDICT, JobKind.TRAIN] * 3:
    time.sleep(0.4)
    store.queue.enqueue(kind, chat_id=int(sys.argv[2]), user_id=None, params={})
store.close()
"""

# Another process finishes jobs one at a time (a failure is the quickest result with a
# message); each message says when its job was finished.
FINISH_SCRIPT = """
import sys, time
from storage.models import JobKind
from storage.store import Store
store = Store.open(sys.argv[1], upgrade=False)
for n in range(5):
    time.sleep(0.4)
    store.queue.enqueue(JobKind.PREDICT, chat_id=int(sys.argv[2]), user_id=None, params={})
    job = store.queue.claim("finisher")
    store.queue.fail(job, f"finished at {time.monotonic():.6f}", retry=False)
store.close()
"""


def settings(**env: str) -> Settings:
    return Settings.from_env({"TRAINBOT_POLL_INTERVAL": LONG_POLL, **env}, env_file=None)


@pytest.fixture
def other_store(database_url: str) -> Iterator[Store]:
    """A second handle on the same database, as the other side's process would have."""
    other = Store.open(database_url)
    yield other
    other.close()


def test_a_job_from_another_process_wakes_whichever_lane_of_the_worker_waits(
    store: Store, other_store: Store, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No ML backend: what is tested is the lanes' claims and waits.
    monkeypatch.setattr(backend, "configure", lambda: None)
    monkeypatch.setattr(backend, "backend_name", lambda: "none")
    monkeypatch.setattr(backend, "device_description", lambda: "cpu")
    store.records.remember(ChatRef(CHAT))
    worker = Worker(
        other_store, settings(), name="w", train_batch=1, train_task=stand_in_training(1)
    )
    # The prediction itself is not what is tested: its lane, claim and wait are.
    worker._predict = lambda job: other_store.queue.complete(job, result={})  # type: ignore[method-assign]
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    try:
        # Registered once its backend is up; a moment later both lanes are waiting.
        wait_until(lambda: bool(store.workers.alive(within_seconds=60)), 120)
        time.sleep(0.5)
        subprocess.run(
            [sys.executable, "-c", ENQUEUE_SCRIPT, database_url, str(CHAT)],
            check=True, timeout=120,
        )  # fmt: skip
        wait_until(lambda: all(j.started_at for j in store.records.list_jobs(CHAT)), 60)
    finally:
        stop.set()
        thread.join(60)
    waits: dict[JobKind, list[float]] = {JobKind.PREDICT: [], JobKind.TRAIN: []}
    for job in store.records.list_jobs(CHAT, limit=20):
        # Both times are the host's clock: the enqueuing process's and the database's.
        assert job.started_at is not None
        waits[job.kind].append((job.started_at - job.created_at).total_seconds())
    assert len(waits[JobKind.PREDICT]) == len(waits[JobKind.TRAIN]) == 3
    assert all(w < WELL_UNDER_SECONDS for w in waits[JobKind.PREDICT]), waits
    assert all(w < WELL_UNDER_SECONDS for w in waits[JobKind.TRAIN]), waits


def test_two_threads_waiting_for_work_both_hear_one_enqueue(
    store: Store, other_store: Store
) -> None:
    store.records.remember(ChatRef(CHAT))
    woke: list[bool] = []

    def lane() -> None:
        other_store.queue.claim("w")  # looks (nothing there), then waits like a lane
        woke.append(other_store.queue.wait_for_work(30.0))

    lanes = [threading.Thread(target=lane) for _ in range(2)]
    for thread in lanes:
        thread.start()
    time.sleep(0.3)
    store.queue.enqueue(JobKind.PREDICT, chat_id=CHAT, user_id=None, params={})
    for thread in lanes:
        thread.join(WELL_UNDER_SECONDS)
    assert woke == [True, True]


def test_an_enqueue_between_a_claim_and_the_wait_still_wakes_it(
    store: Store, other_store: Store
) -> None:
    store.records.remember(ChatRef(CHAT))
    assert other_store.queue.claim("w") is None
    store.queue.enqueue(JobKind.TRAIN, chat_id=CHAT, user_id=None, params={})
    time.sleep(0.1)  # heard by the listener before the wait begins
    started = time.monotonic()
    assert other_store.queue.wait_for_work(30.0)
    assert time.monotonic() - started < WELL_UNDER_SECONDS


async def test_a_job_finished_by_another_process_wakes_the_bots_delivery(
    store: Store, database_url: str
) -> None:
    store.records.remember(ChatRef(CHAT))
    async with FakeTelegram() as tg:
        tg.add_chat(CHAT)
        bot = Bot(tg.token, base_url=tg.base_url, base_file_url=tg.base_file_url)
        await bot.initialize()
        delivery = Delivery(bot, store, settings())
        delivery.start()
        try:
            await asyncio.sleep(0.5)  # delivery is waiting
            child = await asyncio.create_subprocess_exec(
                sys.executable, "-c", FINISH_SCRIPT, database_url, str(CHAT)
            )
            assert await asyncio.wait_for(child.wait(), 120) == 0
            await until(lambda: len(tg.sent(CHAT)) >= 5, 60)
        finally:
            await delivery.stop()
            await bot.shutdown()
    delays = []
    for message in tg.sent(CHAT):
        finished = re.search(r"finished at ([\d.]+)", message.content or "")
        assert finished, message.content
        delays.append(message.sent_at - float(finished.group(1)))
    assert len(delays) == 5
    assert all(d < WELL_UNDER_SECONDS for d in delays), delays


@pytest.mark.postgres
def test_a_lost_listen_connection_comes_back_and_wakes_waiters_meanwhile(
    database_url: str, store: Store, other_store: Store
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("LISTEN is PostgreSQL's")
    store.records.remember(ChatRef(CHAT))
    assert other_store.queue.claim("w") is None  # listening from here on
    with store.db.session() as session:
        # As a restart or a failover would: every LISTEN connection of the database is cut.
        session.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE query LIKE 'LISTEN%' AND datname = current_database()"
            )
        )
    # Whatever was announced while nobody listened is looked for again: the waiter wakes.
    assert other_store.queue.wait_for_work(30.0)
    assert other_store.queue.claim("w") is None
    subprocess.run(
        [sys.executable, "-c", ENQUEUE_ONE_SCRIPT, database_url, str(CHAT)], check=True, timeout=120
    )
    started = time.monotonic()
    assert other_store.queue.wait_for_work(30.0)
    assert time.monotonic() - started < WELL_UNDER_SECONDS


ENQUEUE_ONE_SCRIPT = """
import sys
from storage.models import JobKind
from storage.store import Store
store = Store.open(sys.argv[1], upgrade=False)
store.queue.enqueue(JobKind.TRAIN, chat_id=int(sys.argv[2]), user_id=None, params={})
store.close()
"""
