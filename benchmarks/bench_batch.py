"""Many chats at once: N simultaneous `/train` through the bot, a real worker process, and the
fake Bot API; the same jobs one at a time in the same run; `/predict` during a long training.

    python -m benchmarks.bench_batch        # or python -m benchmarks.run_all batch

The worker runs the JAX backend, as the issue measured. "Batched" is the default worker
(TRAINBOT_TRAIN_BATCH auto, 8 on a CPU); "one at a time" is TRAINBOT_TRAIN_BATCH=1. A job's
time is from the upload to its plot in the chat. Timings are printed, never asserted.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from benchmarks.bench_bot import BOT, REFERENCE_CSV, WORKER, _percentile, _process, _reply_to
from benchmarks.machine import describe
from tests.fake_telegram import ChatMessage, FakeTelegram
from trainer import examples

SIZES = (1, 5, 20, 50)
# The fairness limits are not what this measures: every chat sends one job.
ENV = {"TRAINBOT_PREDICT_LIMIT": "1000", "TRAINBOT_LOG_LEVEL": "WARNING", "KERAS_BACKEND": "jax"}
MIXED_CSV = examples.big_csv(300, seed=5)  # two inputs: another shape than the reference
PREDICTS_DURING = 40
LONG_TRAINING = "/train epochs=4000"  # about a minute of training on this machine's CPU


@dataclass
class Round:
    """N simultaneous trainings: seconds from upload to each plot."""

    jobs: int
    mixed: bool
    seconds: list[float] = field(default_factory=list)

    @property
    def makespan(self) -> float:
        return max(self.seconds)


@dataclass
class Figures:
    batched: list[Round] = field(default_factory=list)
    one_at_a_time: list[Round] = field(default_factory=list)
    predict_idle: list[float] = field(default_factory=list)
    predict_during_training: list[float] = field(default_factory=list)
    training_seconds: float = 0.0


def main() -> str:
    return _report(asyncio.run(_measure()))


async def _measure() -> Figures:
    figures = Figures()
    for batch, rounds in (("0", figures.batched), ("1", figures.one_at_a_time)):
        async with _deployment({"TRAINBOT_TRAIN_BATCH": batch}) as tg:
            # Warm: the backend, and the programs of the batch sizes a burst brings (1 to 8).
            for n, base in ((1, 900), (3, 910), (8, 920), (8, 930)):
                await _trainings(tg, n, chat_base=base, mixed=base == 930)
            for n in SIZES:
                rounds.append(await _trainings(tg, n, chat_base=1000 * n, mixed=False))
            rounds.append(await _trainings(tg, 20, chat_base=90_000, mixed=True))
    async with _deployment({"TRAINBOT_TRAIN_BATCH": "0"}) as tg:
        await _trainings(tg, 1, chat_base=5, mixed=False)  # chat 5 has a model now
        figures.predict_idle = await _predicts(tg, 5)
        started = time.monotonic()
        tg.send_document(7, "long.csv", REFERENCE_CSV.read_bytes(), caption=LONG_TRAINING)
        await asyncio.sleep(5)  # claimed and training: JAX compiles within a second or two
        figures.predict_during_training = await _predicts(tg, 5)
        await tg.wait_for(lambda m: m.kind == "photo", 900.0, chat_id=7)
        figures.training_seconds = time.monotonic() - started
    return figures


class _deployment:
    """The fake Bot API, a worker process and the bot process, on a fresh SQLite file."""

    def __init__(self, worker_env: dict[str, str]) -> None:
        self.worker_env = worker_env

    async def __aenter__(self) -> FakeTelegram:
        self._folder = tempfile.TemporaryDirectory()
        self._tg = FakeTelegram()
        tg = await self._tg.__aenter__()
        env = {
            "TELEGRAM_BOT_TOKEN": tg.token,
            "TELEGRAM_API_BASE_URL": tg.base_url,
            "TELEGRAM_API_FILE_URL": tg.base_file_url,
            "DATABASE_URL": f"sqlite:///{self._folder.name}/batch.sqlite3",
            "TRAINBOT_HEARTBEAT_FILE": f"{self._folder.name}/{uuid.uuid4().hex}.beat",
            "TRAINBOT_MODEL_CACHE_SIZE": "128",
            **ENV,
        }
        self._worker = _process(WORKER, {**env, **self.worker_env})
        await self._worker.__aenter__()
        self._bot = _process(BOT, env)
        await self._bot.__aenter__()
        await tg.wait_for_call(lambda c: c.method == "getUpdates", 60.0)
        return tg

    async def __aexit__(self, *exc: Any) -> None:
        await self._bot.__aexit__(*exc)
        await self._worker.__aexit__(*exc)
        await self._tg.__aexit__(*exc)
        self._folder.cleanup()


async def _trainings(tg: FakeTelegram, n: int, *, chat_base: int, mixed: bool) -> Round:
    """`n` chats send /train at the same moment; half of them another shape when `mixed`."""
    chats = [chat_base + i for i in range(n)]
    started = time.monotonic()
    for i, chat in enumerate(chats):
        content = MIXED_CSV if mixed and i % 2 else REFERENCE_CSV.read_bytes()
        tg.send_document(chat, "table.csv", content, caption="/train")

    async def plot(chat: int) -> float:
        message = await tg.wait_for(_photo, 900.0, chat_id=chat)
        return message.sent_at - started

    return Round(n, mixed, list(await asyncio.gather(*(plot(c) for c in chats))))


def _photo(message: ChatMessage) -> bool:
    return message.kind == "photo"


async def _predicts(tg: FakeTelegram, chat: int) -> list[float]:
    seconds = []
    for value in range(PREDICTS_DURING):
        started = time.monotonic()
        message = tg.send_text(chat, f"/predict {100 + value}")
        answer = await tg.wait_for(_reply_to(message["message_id"]), 60.0, chat_id=chat)
        seconds.append(answer.sent_at - started)
        await asyncio.sleep(0.2)
    return seconds


def _report(figures: Figures) -> str:
    lines = [
        "## Many chats at once (simultaneous /train, end to end through the bot)",
        "",
        f"Machine: {describe()}. One worker process (JAX backend) and the bot, SQLite file, "
        "fake Bot API. A job's time runs from the upload to its plot in the chat; \"one at a "
        'time" is the same worker with TRAINBOT_TRAIN_BATCH=1, in the same run.',
        "",
        "| jobs | tables | batched: last plot | p50 | jobs/s | one at a time: last plot | p50 |"
        " jobs/s | last plot ÷ one job alone |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    alone = figures.batched[0].makespan
    for batched, single in zip(figures.batched, figures.one_at_a_time, strict=True):
        lines.append(
            f"| {batched.jobs} | {'mixed shapes' if batched.mixed else 'reference'} | "
            f"{batched.makespan:.2f} s | {statistics.median(batched.seconds):.2f} s | "
            f"{batched.jobs / batched.makespan:.1f} | {single.makespan:.2f} s | "
            f"{statistics.median(single.seconds):.2f} s | {single.jobs / single.makespan:.1f} | "
            f"{batched.makespan / alone:.1f}× (one at a time: {single.makespan / alone:.1f}×) |"
        )
    twenty = next(r for r in figures.batched if r.jobs == 20 and not r.mixed)
    lines += [
        "",
        f"Bar: 20 simultaneous jobs' last plot within 4× one job alone: "
        f"{twenty.makespan / alone:.1f}× ({twenty.makespan:.2f} s against {alone:.2f} s) — "
        f"{'pass' if twenty.makespan <= 4 * alone else 'FAIL'}.",
        "",
        "| /predict round trip | p50 | p95 |",
        "| --- | --- | --- |",
    ]
    for name, values in (
        ("idle worker", figures.predict_idle),
        (
            f"during a {figures.training_seconds:.0f}-second training",
            figures.predict_during_training,
        ),
    ):
        lines.append(
            f"| {name} | {statistics.median(values) * 1000:.0f} ms | "
            f"{_percentile(values, 0.95) * 1000:.0f} ms |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(main())
