"""The worker's training task with ``epochs=5000`` on a 0.5 MB table, its memory measured.

    python -m tests.epochs_memory     # prints the table's size and the peaks as JSON

Each round is cut to a few steps (trainer.learn.rounds.ROUND_STEP_CAP), or the 60,000 steps
asked would take minutes; what memory the rows take does not depend on how many steps run.
tracemalloc counts what Python and NumPy allocate (where tiled rows showed), VmHWM the
whole process, the ML backend included.
"""

from __future__ import annotations

import json
import resource
import tracemalloc

import numpy as np

from trainbot.settings import Settings
from trainer.learn import rounds
from trainer.params import TrainParams
from trainer.worker.tasks import train_model


def wide_table(rows: int = 6_000, inputs: int = 8) -> bytes:
    """About 0.5 MB of CSV: eight inputs and a curved target, so that few rows fill it."""
    rng = np.random.default_rng(1)
    x = rng.uniform(-3, 3, (rows, inputs))
    y = x[:, 0] ** 2 + x[:, 1:].sum(axis=1) + rng.normal(0, 0.1, rows)
    lines = [",".join(f"{v:.6f}" for v in (*row, target)) for row, target in zip(x, y, strict=True)]
    header = ",".join(f"x{i}" for i in range(inputs)) + ",y"
    return (header + "\n" + "\n".join(lines) + "\n").encode()


def traced_peak(content: bytes, epochs: int, settings: Settings) -> tuple[int, int]:
    """The most Python and NumPy held at once while the worker's task trained ``content``,
    and the passes it says it ran."""
    tracemalloc.start()
    trained = train_model(content, TrainParams(epochs=epochs), lambda _: True, settings)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak, int(trained.summary["epochs_run"])


def peak_rss() -> int:
    """This process's peak resident memory in bytes. Linux keeps ``ru_maxrss`` across exec, so
    a process started from a big pytest would report pytest's size; VmHWM belongs to the
    address space exec made, so it counts this program alone."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main() -> None:
    rounds.ROUND_STEP_CAP = 2
    content = wide_table()
    settings = Settings.from_env({}, env_file=None)
    # The ML stack and a first program load before measuring: the peaks are the jobs' own.
    train_model(content, TrainParams(epochs=50), lambda _: True, settings)
    few, few_run = traced_peak(content, 50, settings)
    many, many_run = traced_peak(content, 5000, settings)
    print(
        json.dumps(
            {
                "table_bytes": len(content),
                "traced_peak": {"50": few, "5000": many},
                "epochs_run": {"50": few_run, "5000": many_run},
                "max_rss": peak_rss(),
            }
        )
    )


if __name__ == "__main__":
    main()
