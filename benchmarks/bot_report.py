"""What the bot benchmark (benchmarks.bench_bot) measures, and its tables."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

from benchmarks.machine import describe
from trainbot.settings import Settings

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
# A /predict asked alone: what the bot, the queue's wake-up and the worker cost together.
P50_ONE_AT_A_TIME = "≤ 50 ms"


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


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def stage_cell(stages: dict[str, float]) -> str:
    order = ("intake", "queue", "worker", "delivery")
    return " / ".join(f"{stages.get(name, float('nan')):.0f}" for name in order) + " ms"


def report(results: list[Figures]) -> str:
    header = "| | " + " | ".join(r.database for r in results) + " | target |"
    rule = "|---|" + "---|" * len(results) + "---|"

    def row(label: str, cell: Callable[[Figures], str], target: str = "") -> str:
        return f"| {label} | " + " | ".join(cell(r) for r in results) + f" | {target} |"

    def stages(pick: Callable[[Figures], Timings]) -> str:
        return row(
            "… bot intake / queue wait / worker / bot delivery (medians)",
            lambda r: stage_cell(pick(r).stages),
        )

    def latency(label: str, pick: Callable[[Figures], Timings], p50: str) -> list[str]:
        return [
            row(
                f"{label}, p50",
                lambda r: f"{1000 * statistics.median(pick(r).round_trips):.0f} ms",
                p50,
            ),
            row(
                f"{label}, p95",
                lambda r: f"{1000 * percentile(pick(r).round_trips, 0.95):.0f} ms",
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
            P50_ONE_AT_A_TIME,
        ),
        *latency(
            f"`/predict` round trip, {total} from {CHATS} chats, all {CHATS} waiting at once",
            lambda r: r.predicts_all_chats_at_once,
            "≤ 150 ms",
        ),
        *flood_rows(row),
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


def flood_rows(row: Callable[..., str]) -> list[str]:
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


def flood_report(results: list[Figures]) -> str:
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
            *flood_rows(row),
        ]
    )


def runs_report(results: dict[str, list[Figures]]) -> str:
    """One row per run and database: upload → plot and `/predict` one at a time."""
    lines = [
        "## Bot: repeated runs",
        "",
        f"Machine: {describe()}.",
        "Each database gets one bot and one warm worker (processes, as in the bot benchmark "
        "above); then each run sends "
        f"{UPLOADS} uploads one after another and {CHATS * PREDICTIONS_PER_CHAT} `/predict` "
        f"one at a time from {CHATS} chats. Targets: `/predict` p50 {P50_ONE_AT_A_TIME} in "
        "every run on each database; upload → plot on PostgreSQL no slower than on SQLite.",
        "",
        "| database | run | upload → plot p50 | `/predict` p50 | `/predict` p95 | "
        "… bot intake / queue wait / worker / bot delivery (medians) |",
        "|---|---|---|---|---|---|",
    ]
    for database, runs in results.items():
        for number, r in enumerate(runs, start=1):
            trips = r.predicts_one_at_a_time.round_trips
            lines.append(
                f"| {database} | {number} | {statistics.median(r.uploads.round_trips):.2f} s | "
                f"{1000 * statistics.median(trips):.0f} ms | "
                f"{1000 * percentile(trips, 0.95):.0f} ms | "
                f"{stage_cell(r.predicts_one_at_a_time.stages)} |"
            )
    return "\n".join(lines)
