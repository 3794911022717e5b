"""The bot as users feel it: upload → plot, `/predict` round trips, fairness, and its memory.

The bot (`bot.app.run`, long polling) and a warm worker (`trainbot worker`) run as processes of
their own, as they are deployed, against the fake Bot API server of the tests on 127.0.0.1; both
share the database. Run it with `python -m benchmarks.run_all bot` (or `python -m
benchmarks.bench_bot`).
Timings are from this machine only; they are printed, never asserted.

`python -m benchmarks.bench_bot flood` runs only the fairness scenario: one chat floods
`/predict` while another asks once, with the bot's default settings.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select, text

from benchmarks.bot_report import (
    CHATS,
    DEFAULTS,
    FLOOD,
    FLOOD_ROUNDS,
    LOAD_ENV,
    PREDICTIONS_PER_CHAT,
    UPLOADS,
    WORKER_ENV,
    Figures,
    Timings,
    flood_report,
    report,
    runs_report,
)
from storage.models import Job, OutboxMessage
from storage.store import Store
from tests.fake_telegram import ChatMessage, FakeTelegram

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_CSV = ROOT / "examples" / "fahrenheit.csv"
BOT = [
    "-c",
    "import logging\n"
    "from bot.app import run\n"
    "from trainbot.settings import Settings\n"
    "logging.basicConfig(level=logging.WARNING)\n"
    "run(Settings.from_env(env_file=None))\n",
]
WORKER = ["-m", "trainbot", "worker", "--name", "bench"]


def main(scenarios: list[str] | None = None) -> str:
    """Run the scenarios on SQLite (and PostgreSQL when configured); a markdown section.

    `runs [N]`: only uploads and `/predict` one at a time, N times (3) on one bot and worker.
    """
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    flood_only = scenarios == ["flood"]
    runs = [("SQLite", _sqlite_url)]
    if os.environ.get("TRAINBOT_TEST_POSTGRES_URL"):
        runs.append(("PostgreSQL", _postgres_url))
    if scenarios and scenarios[0] == "runs":
        repeat = int(scenarios[1]) if len(scenarios) > 1 else 3
        repeated = {}
        for name, make_url in runs:
            with make_url() as url:
                repeated[name] = asyncio.run(_measure_runs(name, url, repeat))
        return runs_report(repeated)
    results = []
    for name, make_url in runs:
        with make_url() as url:
            results.append(asyncio.run(_measure(name, url, flood_only=flood_only)))
    return flood_report(results) if flood_only else report(results)


async def _measure(database: str, url: str, *, flood_only: bool = False) -> Figures:
    figures = Figures(database)
    store = Store.open(url)
    chats = [1000 + i for i in range(CHATS)]
    async with FakeTelegram() as tg:
        env = {
            "TELEGRAM_BOT_TOKEN": tg.token,
            "TELEGRAM_API_BASE_URL": tg.base_url,
            "TELEGRAM_API_FILE_URL": tg.base_file_url,
            "DATABASE_URL": url,
            "TRAINBOT_LOG_LEVEL": "WARNING",
            # The bot's heartbeat goes to a temporary file, not the working directory.
            "TRAINBOT_HEARTBEAT_FILE": f"{tempfile.gettempdir()}/bench-{uuid.uuid4().hex}.beat",
            **WORKER_ENV,
        }
        async with _process(WORKER, env):
            async with _process(BOT, {**env, **LOAD_ENV}) as bot:
                await tg.wait_for_call(lambda c: c.method == "getUpdates", 60.0)
                watcher = _RssWatcher(bot.pid)
                watcher.start()
                try:
                    # One training of the same recipe first: the worker has loaded its backend
                    # and compiled the network before anything is timed.
                    await _upload(tg, 1, "/train predict=200", {})
                    if not flood_only:
                        figures.uploads = await _uploads(tg, store)
                    # Each chat needs a model of its own (models belong to chats).
                    await asyncio.gather(*(_upload(tg, c, "/train epochs=20", {}) for c in chats))
                    if not flood_only:
                        figures.predicts_one_at_a_time = await _predicts(tg, store, chats, 1)
                        figures.predicts_all_chats_at_once = await _predicts(
                            tg, store, chats, CHATS
                        )
                finally:
                    figures.rss_peak_mb = watcher.stop()
            started = time.monotonic()
            async with _process(BOT, env):
                await tg.wait_for_call(
                    lambda c: c.method == "getUpdates" and c.time > started, 60.0
                )
                figures.flood = await _flood(tg, chats)
    store.close()
    return figures


async def _measure_runs(database: str, url: str, repeat: int) -> list[Figures]:
    """`repeat` runs of uploads and `/predict` one at a time, on one bot and warm worker."""
    store = Store.open(url)
    chats = [1000 + i for i in range(CHATS)]
    results = []
    async with FakeTelegram() as tg:
        env = {
            "TELEGRAM_BOT_TOKEN": tg.token,
            "TELEGRAM_API_BASE_URL": tg.base_url,
            "TELEGRAM_API_FILE_URL": tg.base_file_url,
            "DATABASE_URL": url,
            "TRAINBOT_LOG_LEVEL": "WARNING",
            "TRAINBOT_HEARTBEAT_FILE": f"{tempfile.gettempdir()}/bench-{uuid.uuid4().hex}.beat",
            **WORKER_ENV,
        }
        async with _process(WORKER, env), _process(BOT, {**env, **LOAD_ENV}):
            await tg.wait_for_call(lambda c: c.method == "getUpdates", 60.0)
            await _upload(tg, 1, "/train predict=200", {})
            await asyncio.gather(*(_upload(tg, c, "/train epochs=20", {}) for c in chats))
            for _ in range(repeat):
                figures = Figures(database)
                figures.uploads = await _uploads(tg, store)
                figures.predicts_one_at_a_time = await _predicts(tg, store, chats, 1)
                results.append(figures)
    store.close()
    return results


async def _flood(tg: FakeTelegram, chats: list[int]) -> Timings:
    """Rounds in which one chat sends FLOOD /predict at once and then another chat asks once.

    The round trip is the other chat's; each round has a new pair of chats, so no round meets
    the per-chat limit left over from the one before.
    """
    timings = Timings()
    started = time.monotonic()
    for round_ in range(FLOOD_ROUNDS):
        flooder, asker = chats[2 * round_], chats[2 * round_ + 1]
        before = len(tg.sent(flooder))
        for value in range(FLOOD):
            tg.send_text(flooder, f"/predict {value}")
        asked = time.monotonic()
        message = tg.send_text(asker, "/predict 100")
        answer = await tg.wait_for(_reply_to(message["message_id"]), 60.0, chat_id=asker)
        timings.round_trips.append(answer.sent_at - asked)
        # The flood's accepted requests are answered before the next round begins.
        await tg.wait_for(
            lambda _, f=flooder, b=before: (
                sum("y = " in m.content for m in tg.sent(f)[b:]) >= DEFAULTS.predict_limit
            ),
            60.0,
            chat_id=flooder,
        )
    timings.elapsed = time.monotonic() - started
    return timings


Asked = dict[tuple[int, int], datetime]


async def _uploads(tg: FakeTelegram, store: Store) -> Timings:
    asked: Asked = {}
    timings = Timings([await _upload(tg, 2, "/train predict=200", asked) for _ in range(UPLOADS)])
    timings.stages = await asyncio.to_thread(_stages, store, asked, "train_plot")
    return timings


async def _upload(tg: FakeTelegram, chat_id: int, caption: str, asked: Asked) -> float:
    """Send the reference CSV; seconds until its plot arrives."""

    def photos() -> list[ChatMessage]:
        return [m for m in tg.sent(chat_id) if m.kind == "photo"]

    before = len(photos())
    started = time.monotonic()
    sent = tg.send_document(chat_id, "fahrenheit.csv", REFERENCE_CSV.read_bytes(), caption=caption)
    asked[(chat_id, sent["message_id"])] = datetime.now(UTC)
    await tg.wait_for(lambda _: len(photos()) > before, 300.0, chat_id=chat_id)
    return photos()[before].sent_at - started


async def _predicts(tg: FakeTelegram, store: Store, chats: list[int], at_once: int) -> Timings:
    """PREDICTIONS_PER_CHAT rounds over the chats, `at_once` of them waiting at any time."""
    asked: Asked = {}
    timings = Timings()
    gate = asyncio.Semaphore(at_once)

    async def ask(chat_id: int, value: int) -> None:
        async with gate:
            started = time.monotonic()
            message = tg.send_text(chat_id, f"/predict {value}")
            asked[(chat_id, message["message_id"])] = datetime.now(UTC)
            answer = await tg.wait_for(_reply_to(message["message_id"]), 60.0, chat_id=chat_id)
            timings.round_trips.append(answer.sent_at - started)

    started = time.monotonic()
    for value in range(PREDICTIONS_PER_CHAT):
        await asyncio.gather(*(ask(chat_id, 100 + value) for chat_id in chats))
    timings.elapsed = time.monotonic() - started
    timings.stages = await asyncio.to_thread(_stages, store, asked, "predictions")
    return timings


def _stages(store: Store, asked: Asked, answer: str) -> dict[str, float]:
    """Median ms from the user's message to the job, its start, its end and `answer` sent."""
    query = (
        select(Job, OutboxMessage.delivered_at)
        .join(OutboxMessage, OutboxMessage.job_id == Job.id)
        .where(OutboxMessage.kind == answer)
    )
    stages: dict[str, list[float]] = {"intake": [], "queue": [], "worker": [], "delivery": []}
    with store.db.session() as session:
        for job, delivered_at in session.execute(query):
            sent = asked.get((job.chat_id, job.reply_to_message_id or 0))
            if sent is None or None in (job.started_at, job.finished_at, delivered_at):
                continue
            for name, (start, end) in {
                "intake": (sent, job.created_at),
                "queue": (job.created_at, job.started_at),
                "worker": (job.started_at, job.finished_at),
                "delivery": (job.finished_at, delivered_at),
            }.items():
                stages[name].append((end - start).total_seconds() * 1000)
    return {name: statistics.median(values) for name, values in stages.items() if values}


def _reply_to(message_id: int) -> Callable[[ChatMessage], bool]:
    def matches(message: ChatMessage) -> bool:
        return message.reply_to is not None and message.reply_to.message_id == message_id

    return matches


@asynccontextmanager
async def _process(
    arguments: list[str], env: dict[str, str]
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python arguments…`, stopped with SIGTERM as a deployment stops it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, *arguments, cwd=ROOT, env={**os.environ, **env}
    )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 60)
        except TimeoutError:
            process.kill()
            await process.wait()


class _RssWatcher:
    """Samples a process's resident memory; the peak is what the bot needed while serving."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak_kb / 1024

    def _watch(self) -> None:
        while not self._stop.wait(0.05):
            try:
                status = Path(f"/proc/{self.pid}/status").read_text()
            except OSError:
                return
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    self.peak_kb = max(self.peak_kb, int(line.split()[1]))


@contextmanager
def _sqlite_url() -> Any:
    with tempfile.TemporaryDirectory() as folder:
        yield f"sqlite:///{folder}/bench.sqlite3"


@contextmanager
def _postgres_url() -> Any:
    server = os.environ["TRAINBOT_TEST_POSTGRES_URL"]
    name = f"trainbot_bench_bot_{uuid.uuid4().hex[:8]}"
    admin = create_engine(
        server.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    print(main(sys.argv[1:] or None))
