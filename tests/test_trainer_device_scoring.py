"""Scoring the members on the device gives the host's pooled errors (trainer.learn.rounds).

JAX only, so it runs in a process of its own with KERAS_BACKEND=jax on the CPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import json
import numpy as np
from trainer import backend, examples
from trainer.learn import rounds
from trainer.learn.crossval import prepare
from trainer.learn.device_scoring import DeviceScorer, available
from trainer.learn.members import _by_layer, _program
from trainer.learn.recipes import DEFAULT
from trainer.learn.stacked import MemberWeights
from trainer.tables.dataset import read_dataset

backend.configure()
tables = [examples.fahrenheit_csv(60), examples.curve_csv("square", 45, seed=1)]
prepared = [prepare(read_dataset(t), DEFAULT, None, 1e9) for t in tables]
tasks = [p.task for p in prepared]
monitor = rounds.RoundMonitor(tasks, prepared[0].plan, early_stopping=True, start_margin=0.0)
_, build = _program(tasks, DEFAULT, prepared[0].plan)
network = build()
rng = np.random.default_rng(3)
start = MemberWeights.concatenate([task.start for task in tasks])
for name, arrays in _by_layer(start).items():
    network.get_layer(name).set_weights(
        [a + rng.normal(0, 0.1, a.shape).astype(np.float32) for a in arrays])
weights = MemberWeights.from_model(network)
host = [[rounds._pooled(t.own(weights), t.task, getattr(t, rows)) for t in monitor.tracked]
        for rows in ("val_rows", "loss_rows")]
scorer = DeviceScorer(tasks, [[t.val_rows for t in monitor.tracked],
                              [t.loss_rows for t in monitor.tracked]])

# A short fit with each monitor: the same rounds kept, the same curves to float32's precision.
import dataclasses
from trainer.learn import device_scoring, members
recipe = dataclasses.replace(DEFAULT, epochs=6)
again = [prepare(read_dataset(t), recipe, None, 1e9) for t in tables]
fits = {}
for kind, monitor_class in (("host", rounds.RoundMonitor),
                            ("device", device_scoring.DeviceRoundMonitor)):
    members.RoundMonitor = monitor_class
    fitted = members.fit_members([p.task for p in again], recipe, again[0].plan,
                                 use_early_stopping=True)
    fits[kind] = [{"best": f.best_pass, "val": f.history["val_loss"]} for f in fitted]
print(json.dumps({"available": available(), "host": host, "device": scorer(network).tolist(),
                  "fits": fits}))
"""


def _run() -> dict[str, Any]:
    """The script's figures, once per test session (one process, one compile)."""
    if not _figures:
        _figures.update(_figures_now())
    return _figures


_figures: dict[str, Any] = {}


def _figures_now() -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env={**os.environ, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": "jax",
             "JAX_PLATFORMS": "cpu"},
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_device_scores_are_the_hosts_pooled_errors() -> None:
    figures = _run()
    assert figures["available"]
    host, device = figures["host"], figures["device"]
    assert len(device) == 2 and all(len(row) == 2 for row in device)
    for host_row, device_row in zip(host, device, strict=True):
        for expected, got in zip(host_row, device_row, strict=True):
            assert expected > 0
            assert abs(got - expected) <= 1e-4 * expected
    # The two tables differ, so a mix-up of rows or members would show.
    assert abs(host[0][0] - host[0][1]) > 1e-3 * host[0][0]


def test_a_fit_scored_on_the_device_keeps_the_rounds_the_host_keeps() -> None:
    figures = _run()
    host, device = figures["fits"]["host"], figures["fits"]["device"]
    for by_host, by_device in zip(host, device, strict=True):
        assert by_host["best"] == by_device["best"]
        assert len(by_host["val"]) == len(by_device["val"]) > 0
        for expected, got in zip(by_host["val"], by_device["val"], strict=True):
            assert abs(got - expected) <= 1e-3 * expected
