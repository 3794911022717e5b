"""No file can stall the bot or grow its memory: uploads are read in bounded child processes.

First the pool itself (a reader that spins, hoards memory or dies gets one sentence, the loop
keeps serving, the next file gets a fresh child); then end to end through the fake Bot API: the
file that froze every chat, uploaded while another chat asks /predict; and a real bot process
given a workbook with a huge strings table, its memory measured.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.parse_pool import ParsePool, ReadFailure
from tests import readers
from tests.fake_telegram import FakeTelegram
from tests.test_bot_e2e import (
    CHAT,
    OTHER_CHAT,
    World,
    give_every_chat_a_model,
    predicted,
    world_of,
)
from tests.workbooks import strings_table_workbook
from trainer.errors import DatasetError
from trainer.limits import Limits
from trainer.tables.checks import check_training_table

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

ROOT = Path(__file__).resolve().parents[1]


class LoopLag:
    """The longest the event loop was late for a 10 ms tick while it ran."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LoopLag:
        self._task = asyncio.create_task(self._tick())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()

    async def _tick(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            self.worst = max(self.worst, time.perf_counter() - before - 0.01)


# -- the pool ---------------------------------------------------------------------------------


async def test_a_reader_answers_or_refuses_from_its_child() -> None:
    pool = ParsePool(processes=2, seconds=10)
    assert await pool.run(readers.doubles, 21) == 42
    with pytest.raises(DatasetError, match=r"^Row 3 is odd\.$"):
        await pool.run(readers.refuses, "Row 3 is odd.")
    assert await pool.run(readers.pid) != os.getpid()


async def test_a_reader_that_spins_is_stopped_while_the_loop_serves() -> None:
    pool = ParsePool(processes=1, seconds=1.5)
    await pool.run(readers.pid)  # the server process is up
    started = time.perf_counter()
    async with LoopLag() as lag:
        with pytest.raises(ReadFailure) as caught:
            await pool.run(readers.spins)
    assert caught.value.kind == "time"
    assert 1.5 <= time.perf_counter() - started < 5.0
    assert lag.worst < 0.1, lag.worst


async def test_a_reader_that_hoards_memory_is_stopped_at_its_limit() -> None:
    pool = ParsePool(processes=1, seconds=20, memory_bytes=300_000_000)
    with pytest.raises(ReadFailure) as caught:
        await pool.run(readers.hoards, 2_000)
    assert caught.value.kind == "memory"
    assert await pool.run(readers.hoards, 100) == 100  # within the limit


async def test_a_reader_that_dies_takes_nothing_with_it() -> None:
    pool = ParsePool(processes=2, seconds=10)
    with pytest.raises(ReadFailure) as caught:
        await pool.run(readers.dies)
    assert caught.value.kind == "crash"
    # More files than processes wait their turn, each in a fresh child.
    pids = await asyncio.gather(*(pool.run(readers.pid) for _ in range(6)))
    assert len(set(pids)) == 6


# -- end to end -------------------------------------------------------------------------------


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    async with world_of(database_url) as running:
        yield running


def freezing_file(size: int) -> bytes:
    """A table whose last cell is a long run of digits and a letter: the lenient number
    pattern backtracked over it quadratically (12 KB froze every chat for 6 s)."""
    rows = b"x,y\n" + b"".join(f"{i},{2 * i + 1}\n".encode() for i in range(20))
    return rows + b"5," + b"1" * (size - len(rows) - 4) + b"a\n"


async def test_the_freezing_file_never_delays_another_chats_predict(world: World) -> None:
    await asyncio.to_thread(give_every_chat_a_model, world, [OTHER_CHAT])
    tg = world.tg
    await world.reply_to(tg.send_text(OTHER_CHAT, "/predict 1"), contains="→ y ", within=60)
    slow = b"x,y\n" + b"".join(f"{i},{i % 97}.5\n".encode() for i in range(400_000))
    for name, data in (("12k.csv", freezing_file(12_000)), ("100k.csv", freezing_file(100_000)),
                       ("slow.csv", slow)):  # fmt: skip
        upload = tg.send_document(CHAT, name, data, caption="/train")
        started = time.perf_counter()
        answer = await world.reply_to(tg.send_text(OTHER_CHAT, "/predict 3"), contains="→ y ")
        assert time.perf_counter() - started < 0.5, name
        assert predicted(answer.content) == [pytest.approx(7, abs=0.5)]
        reply = await world.reply_to(upload, within=30)
        if name != "slow.csv":
            assert 'Column "y" has a value that is not a number in row 22: "1111' in reply.content


BOT = [
    "-c",
    "import logging\n"
    "from bot.app import run\n"
    "from trainbot.settings import Settings\n"
    "logging.basicConfig(level=logging.WARNING)\n"
    "run(Settings.from_env(env_file=None))\n",
]


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def test_a_bot_process_reading_a_huge_strings_table_stays_small() -> None:
    workbook = strings_table_workbook(2_000_000)
    async with FakeTelegram() as tg:
        with tempfile.TemporaryDirectory() as folder:
            env = {
                **os.environ,
                "TELEGRAM_BOT_TOKEN": tg.token,
                "TELEGRAM_API_BASE_URL": tg.base_url,
                "TELEGRAM_API_FILE_URL": tg.base_file_url,
                "DATABASE_URL": f"sqlite:///{folder}/bot.sqlite3",
                "TRAINBOT_HEARTBEAT_FILE": f"{folder}/heartbeat",
                "TRAINBOT_PARSE_MEMORY_MB": "400",
                "PYTHONPATH": str(ROOT),
            }
            bot = await asyncio.create_subprocess_exec(sys.executable, *BOT, cwd=ROOT, env=env)
            peak, stop = [0], threading.Event()

            def watch() -> None:
                while not stop.wait(0.02):
                    try:
                        peak[0] = max(peak[0], _rss_kb(bot.pid))
                    except OSError:
                        return

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            try:
                await tg.wait_for_call(lambda call: call.method == "getUpdates", 60)
                upload = tg.send_document(
                    CHAT, "book.xlsx", workbook, caption="/train", mime_type="application/zip"
                )
                answer = await tg.wait_for(
                    lambda m: (
                        m.reply_to is not None and m.reply_to.message_id == upload["message_id"]
                    ),
                    60,
                    chat_id=CHAT,
                )
                assert "Job" in answer.content and "30 rows" in answer.content, answer.content
            finally:
                stop.set()
                watcher.join()
                bot.send_signal(signal.SIGTERM)
                await asyncio.wait_for(bot.wait(), 60)
    print(f"bot peak RSS {peak[0] / 1024:.0f} MB")
    assert peak[0] / 1024 <= 250, peak[0]


def test_the_check_of_the_huge_strings_table_fits_the_childs_limit() -> None:
    # The child may grow by TRAINBOT_PARSE_MEMORY_MB; the workbook needs far less.
    pool = ParsePool(processes=1, seconds=60, memory_bytes=400_000_000)
    checked = asyncio.run(
        pool.run(
            check_training_table,
            strings_table_workbook(2_000_000),
            x=None,
            y=None,
            sheet=None,
            limits=Limits(),
        )
    )
    assert checked.n_rows == 30 and checked.target_name == "y"
