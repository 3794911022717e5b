"""The bot benchmark's uploads and `/predict` one at a time, repeated on one bot and worker per
database (`python -m benchmarks.run_all botruns`, or `python -m benchmarks.bench_bot runs 3`):
a bar that must hold in every run, not only in a lucky one."""

from __future__ import annotations

from benchmarks import bench_bot

RUNS = 3


def main() -> str:
    return bench_bot.main(["runs", str(RUNS)])


if __name__ == "__main__":
    print(main())
