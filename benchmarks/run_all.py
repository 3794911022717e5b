"""Runs every benchmark of the project and writes benchmarks/RESULTS.md.

python -m benchmarks.run_all            # all of them
python -m benchmarks.run_all queue bot  # some of them (queue, trainer, realdata, batch, bot,
                                        # botruns, intervals, classify)

Running some of them replaces their sections of RESULTS.md and keeps the others, each
section with the date it was measured on.
"""

from __future__ import annotations

import importlib
import logging
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.machine import describe

BENCHMARKS = {
    "queue": "benchmarks.bench_queue",
    "trainer": "benchmarks.bench_trainer",
    "realdata": "benchmarks.bench_realdata",
    "batch": "benchmarks.bench_batch",
    "bot": "benchmarks.bench_bot",
    "botruns": "benchmarks.bench_bot_runs",
    "intervals": "benchmarks.bench_intervals",
    "classify": "benchmarks.bench_classify",
}
RESULTS = Path(__file__).with_name("RESULTS.md")


def main(names: list[str]) -> int:
    logging.basicConfig(level=logging.WARNING)
    chosen = names or list(BENCHMARKS)
    unknown = [n for n in chosen if n not in BENCHMARKS]
    if unknown:
        print(
            f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}",
            file=sys.stderr,
        )
        return 2
    kept = _sections(RESULTS.read_text(encoding="utf-8")) if RESULTS.exists() else {}
    measured: dict[str, str] = {}
    for name in chosen:
        print(f"running {name} ...", file=sys.stderr)
        section = importlib.import_module(BENCHMARKS[name]).main().strip()
        print(section)
        stamp = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {describe()}"
        measured[name] = f"{section}\n\n_Measured {stamp}._"
    header = [
        "# Benchmark results",
        "",
        "Timings are compared as ratios within one run on the same machine; each section says",
        "when and where it was measured.",
    ]
    body = [measured.get(name) or kept.get(name) for name in BENCHMARKS]
    text = "\n\n".join(["\n".join(header), *(section for section in body if section)])
    RESULTS.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}", file=sys.stderr)
    return 0


def _sections(text: str) -> dict[str, str]:
    """The sections of a RESULTS.md by benchmark name, told apart by their headings' order of
    appearance: each benchmark writes one section, starting with a "## " heading."""
    chunks = ["## " + chunk.strip() for chunk in text.split("\n## ")[1:]]
    # Files written before sections carried their own stamp had one date and machine for all.
    dated = re.search(r"^- date: (.+ UTC)$", text, re.MULTILINE)
    machine = re.search(r"^- machine: (.+)$", text, re.MULTILINE)
    if dated and machine:
        stamp = f"_Measured {dated[1]} on {machine[1]}._"
        chunks = [c if "_Measured " in c else f"{c}\n\n{stamp}" for c in chunks]
    titles = {
        "queue": "## Queue",
        "trainer": "## Trainer",
        "realdata": "## Real-data",
        "batch": "## Many chats",
        # The newline tells the bot benchmark's section from its repeated runs'.
        "bot": "## Bot\n",
        "botruns": "## Bot: repeated runs",
        "intervals": "## Prediction intervals",
        "classify": "## Classifiers",
    }
    return {
        name: chunk for chunk in chunks for name, title in titles.items() if chunk.startswith(title)
    }


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
