"""The rounds' scoring of a batch: on the host (trainer.learn.rounds, as shipped) against on the
device (trainer.learn.device_scoring), for batches of 1 to N reference tables.

After every round of a batched fit each task's members are scored on their held-out rows and a
sample of their training rows. As shipped that copies every member's weights to the host and
runs NumPy member by member, so its cost grows with the batch even where the fit's does not.

    KERAS_BACKEND=jax python benchmarks/bench_scoring.py [--tasks 1,8,64,512]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("KERAS_BACKEND", "jax")

from benchmarks.machine import describe  # noqa: E402

REPEATS = 5
T = TypeVar("T")


def measure(tasks_count: int) -> dict[str, float]:
    """Seconds per round for both ways, and their largest relative disagreement."""
    from trainer import backend
    from trainer.learn import rounds
    from trainer.learn.crossval import prepare
    from trainer.learn.device_scoring import DeviceScorer
    from trainer.learn.members import _by_layer, _program
    from trainer.learn.recipes import DEFAULT
    from trainer.learn.stacked import MemberWeights
    from trainer.tables.dataset import read_dataset

    backend.configure()
    dataset = read_dataset((ROOT / "examples" / "fahrenheit.csv").read_bytes())
    prepared = [
        prepare(dataset, DEFAULT.__class__(**{**DEFAULT.__dict__, "seed": s}), None, 1e9)
        for s in range(tasks_count)
    ]
    tasks = [p.task for p in prepared]
    plan = prepared[0].plan
    monitor = rounds.RoundMonitor(tasks, plan, early_stopping=True, start_margin=0.0)
    tracked = monitor.tracked
    _, build = _program(tasks, prepared[0].recipe, plan)
    network = build()
    start = MemberWeights.concatenate([task.start for task in tasks])
    rng = np.random.default_rng(0)
    for name, arrays in _by_layer(start).items():  # a trained-looking MLP, not a zero one
        network.get_layer(name).set_weights(
            [a + rng.normal(0, 0.05, a.shape).astype(np.float32) for a in arrays]
        )

    def on_host() -> np.ndarray:
        weights = MemberWeights.from_model(network)
        return np.array(
            [
                [rounds._pooled(t.own(weights), t.task, t.val_rows) for t in tracked],
                [rounds._pooled(t.own(weights), t.task, t.loss_rows) for t in tracked],
            ]
        )

    built = time.perf_counter()
    scorer = DeviceScorer(tasks, [[t.val_rows for t in tracked], [t.loss_rows for t in tracked]])
    first = scorer(network)
    setup = time.perf_counter() - built
    host, expected = _timed(on_host)
    device, _ = _timed(lambda: scorer(network))
    gap = float(np.nanmax(np.abs(first - expected) / np.maximum(np.abs(expected), 1e-12)))
    return {"tasks": tasks_count, "host": host, "device": device, "setup": setup, "gap": gap}


def _timed(step: Callable[[], T]) -> tuple[float, T]:
    """Seconds per call and what it returned: the mean of REPEATS after a first call, or the
    first alone when it took over a second (the host's scoring of a big batch)."""
    started = time.perf_counter()
    value = step()
    first = time.perf_counter() - started
    if first > 1.0:
        return first, value
    started = time.perf_counter()
    for _ in range(REPEATS):
        value = step()
    return (time.perf_counter() - started) / REPEATS, value


def main(sizes: list[int]) -> str:
    from trainer import backend

    rows = [measure(n) for n in sizes]
    lines = [
        f"### Scoring a batch after each round ({backend.device_description()})",
        "",
        f"Machine: {describe()}. Reference table (1,000 rows), 5 members per table; seconds per"
        " round, mean of 5 after one call (a call over a second: that call). Host:"
        " trainer.learn.rounds as shipped (weights to the host, NumPy float64 member by"
        " member); device: trainer.learn.device_scoring (one compiled call, rows kept on the"
        " device).",
        "",
        "| tables | host | device | host ÷ device | device set-up + first call (compiles)"
        " | largest relative gap |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['tasks']} | {r['host'] * 1000:.1f} ms | {r['device'] * 1000:.1f} ms"
            f" | {r['host'] / r['device']:.1f}× | {r['setup']:.2f} s | {r['gap']:.1e} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", default="1,8,64", help="tables per batch, comma-separated")
    args = parser.parse_args()
    sys.stdout.write(main([int(n) for n in args.tasks.split(",")]))
