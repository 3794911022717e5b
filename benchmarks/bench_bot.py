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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select, text

from benchmarks.machine import describe
from storage.models import Job, OutboxMessage
from storage.store import Store
from tests.fake_telegram import ChatMessage, FakeTelegram
from trainbot.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_CSV = ROOT / "examples" / "fahrenheit.csv"
UPLOADS = 5
# Telegram's limit on a bot's messages to all chats together, which the bot's rate limiter keeps
# (it lets a short burst through first).
TELEGRAM_MESSAGES_PER_SECOND = 30
CHATS = 20
PREDICTIONS_PER_CHAT = 10
# The fairness scenario: one chat sends this many /predict at once, another chat asks once.
FLOOD = 150
FLOOD_ROUNDS = 5
WORKER_ENV = {
    # One model per chat: the worker keeps them all loaded, as it would for 20 active chats.
    "TRAINBOT_MODEL_CACHE_SIZE": str(CHATS + 4),
}
# The round-trip scenarios ask each chat for 20 predictions within seconds, more than the
# default per-chat /predict limit allows; the flood scenario runs a bot with the default.
LOAD_ENV = {"TRAINBOT_PREDICT_LIMIT": "1000"}
DEFAULTS = Settings()
BOT = [
    "-c",
    "import logging\n"
    "from bot.app import run\n"
    "from trainbot.settings import Settings\n"
    "logging.basicConfig(level=logging.WARNING)\n"
    "run(Settings.from_env(env_file=None))\n",
]
WORKER = ["-m", "trainbot", "worker", "--name", "bench"]


@dataclass
class Timings:
    """Seconds from a user's message to the bot's answer, and where the time went."""

    round_trips: list[float] = field(default_factory=list)
    # Wall-clock seconds for all of them: answers per second is what Telegram's limit caps.
    elapsed: float = 0.0
    # Median ms per stage: bot intake, queue wait, worker, bot delivery (storage's clocks).
    stages: dict[str, float] = field(default_factory=dict)


@dataclass
class Figures:
    database: str
    uploads: Timings = field(default_factory=Timings)
    predicts_one_at_a_time: Timings = field(default_factory=Timings)
    predicts_all_chats_at_once: Timings = field(default_factory=Timings)
    # Another chat's single /predict while one chat floods FLOOD of them, default settings.
    flood: Timings = field(default_factory=Timings)
    rss_peak_mb: float = 0.0


def main(scenarios: list[str] | None = None) -> str:
    """Run the scenarios on SQLite (and PostgreSQL when configured); a markdown section."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    flood_only = scenarios == ["flood"]
    runs = [("SQLite", _sqlite_url)]
    if os.environ.get("TRAINBOT_TEST_POSTGRES_URL"):
        runs.append(("PostgreSQL", _postgres_url))
    results = []
    for name, make_url in runs:
        with make_url() as url:
            results.append(asyncio.run(_measure(name, url, flood_only=flood_only)))
    return _flood_report(results) if flood_only else _report(results)


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


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _stage_cell(stages: dict[str, float]) -> str:
    order = ("intake", "queue", "worker", "delivery")
    return " / ".join(f"{stages.get(name, float('nan')):.0f}" for name in order) + " ms"


def _report(results: list[Figures]) -> str:
    header = "| | " + " | ".join(r.database for r in results) + " | target |"
    rule = "|---|" + "---|" * len(results) + "---|"

    def row(label: str, cell: Callable[[Figures], str], target: str = "") -> str:
        return f"| {label} | " + " | ".join(cell(r) for r in results) + f" | {target} |"

    def stages(pick: Callable[[Figures], Timings]) -> str:
        return row(
            "… bot intake / queue wait / worker / bot delivery (medians)",
            lambda r: _stage_cell(pick(r).stages),
        )

    def latency(label: str, pick: Callable[[Figures], Timings]) -> list[str]:
        return [
            row(
                f"{label}, p50",
                lambda r: f"{1000 * statistics.median(pick(r).round_trips):.0f} ms",
                "≤ 150 ms",
            ),
            row(
                f"{label}, p95",
                lambda r: f"{1000 * _percentile(pick(r).round_trips, 0.95):.0f} ms",
                "≤ 300 ms",
            ),
            stages(pick),
            row(
                f"{label}, answers per second",
                lambda r: f"{len(pick(r).round_trips) / pick(r).elapsed:.1f}",
                f"Telegram: {TELEGRAM_MESSAGES_PER_SECOND}, after a first burst",
            ),
        ]

    total = CHATS * PREDICTIONS_PER_CHAT
    rows = [
        row(
            f"upload → plot delivered, p50 of {UPLOADS} (warm worker, default recipe)",
            lambda r: f"{statistics.median(r.uploads.round_trips):.2f} s",
            "≤ 2 s",
        ),
        stages(lambda r: r.uploads),
        *latency(
            f"`/predict` round trip, {total} from {CHATS} chats, one at a time",
            lambda r: r.predicts_one_at_a_time,
        ),
        *latency(
            f"`/predict` round trip, {total} from {CHATS} chats, all {CHATS} waiting at once",
            lambda r: r.predicts_all_chats_at_once,
        ),
        *_flood_rows(row),
        row("bot process RSS, peak while serving", lambda r: f"{r.rss_peak_mb:.0f} MB", "≤ 150 MB"),
    ]
    settings = ", ".join(f"{k}={v}" for k, v in WORKER_ENV.items())
    return "\n".join(
        [
            "## Bot",
            "",
            f"Machine: {describe()}.",
            "The bot (`bot.app.run`, long polling) and one warm worker (`trainbot worker`), each "
            "its own process as deployed, talk to the fake Bot API server of the tests on "
            f"127.0.0.1 and share the database of each column; default settings except {settings}. "
            "Stages come from storage's timestamps (ms). The flood rows run a second bot with "
            f"default settings (at most {DEFAULTS.predict_limit} `/predict` per chat in "
            f"{DEFAULTS.predict_window_seconds:g} s); the others raise that limit "
            f"({', '.join(f'{k}={v}' for k, v in LOAD_ENV.items())}).",
            "",
            header,
            rule,
            *rows,
            "",
            f"With all {CHATS} chats waiting, each round's {CHATS} answers share the "
            f"{TELEGRAM_MESSAGES_PER_SECOND} messages a second that Telegram allows a bot and "
            "that the bot's rate limiter keeps: once its first burst is spent, a round cannot be "
            f"answered in less than {CHATS / TELEGRAM_MESSAGES_PER_SECOND:.2f} s, so the slowest "
            "answers of each round wait about that long whatever the bot and the worker do.",
        ]
    )


def _flood_rows(row: Callable[..., str]) -> list[str]:
    label = f"another chat's `/predict` while one chat sends {FLOOD} at once"
    return [
        row(
            f"{label}, p50 of {FLOOD_ROUNDS}",
            lambda r: f"{1000 * statistics.median(r.flood.round_trips):.0f} ms",
            "≤ 500 ms",
        ),
        row(
            f"{label}, slowest of {FLOOD_ROUNDS}",
            lambda r: f"{1000 * max(r.flood.round_trips):.0f} ms",
            "≤ 500 ms",
        ),
    ]


def _flood_report(results: list[Figures]) -> str:
    header = "| | " + " | ".join(r.database for r in results) + " | target |"
    rule = "|---|" + "---|" * len(results) + "---|"

    def row(label: str, cell: Callable[[Figures], str], target: str = "") -> str:
        return f"| {label} | " + " | ".join(cell(r) for r in results) + f" | {target} |"

    return "\n".join(
        [
            "## Bot: fairness",
            "",
            f"Machine: {describe()}.",
            "Bot and worker processes with default settings, fake Bot API on 127.0.0.1.",
            "",
            header,
            rule,
            *_flood_rows(row),
        ]
    )


if __name__ == "__main__":
    print(main(sys.argv[1:] or None))
