"""Runs every benchmark of the project and writes benchmarks/RESULTS.md.

python -m benchmarks.run_all            # all of them
python -m benchmarks.run_all queue bot  # some of them (queue, trainer, realdata, bot)
"""

from __future__ import annotations

import importlib
import logging
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
    sections = [
        "# Benchmark results",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {describe()}",
        "- timings are compared as ratios within one run on the same machine",
    ]
    for name in chosen:
        print(f"running {name} ...", file=sys.stderr)
        section = importlib.import_module(BENCHMARKS[name]).main()
        print(section)
        sections += ["", section]
    RESULTS.write_text("\n".join(sections) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
