"""``epochs=`` asks for passes, not memory: the rows are never tiled, the best round's weights are
kept, and the reply says when held-out error rose after it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from trainer.judge import verdicts
from trainer.learn.recipes import TUTORIAL, schedule
from trainer.learn.training import train
from trainer.params import TrainParams
from trainer.tables.dataset import read_dataset
from trainer.words import summary as summary_words

ROOT = Path(__file__).resolve().parents[1]


def test_epochs_5000_on_a_half_megabyte_table_takes_the_memory_of_50() -> None:
    """The worker's task in a process of its own (tests/epochs_memory.py), rounds cut to two
    steps each. Tiled once per pass, a round's rows of this table took 55 MB more."""
    completed = subprocess.run(
        [sys.executable, "-m", "tests.epochs_memory"],
        env={**os.environ, "KERAS_BACKEND": "jax"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    measured = json.loads(completed.stdout.strip().splitlines()[-1])
    assert 400_000 <= measured["table_bytes"] <= 600_000
    assert measured["epochs_run"] == {"50": 50, "5000": 5000}
    few, many = measured["traced_peak"]["50"], measured["traced_peak"]["5000"]
    # Parsing, the model file and the plot take what they take; epochs add nothing to it.
    assert many <= few + 4_000_000, measured
    assert measured["max_rss"] <= 2 * 1024**3, measured


def _noisy_curve(rows: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3, 3, (rows, 3))
    y = x[:, 0] ** 2 + np.sin(2 * x[:, 1]) + rng.normal(0, 0.7, rows)
    lines = [",".join(f"{v:.5f}" for v in (*row, target)) for row, target in zip(x, y, strict=True)]
    return ("x0,x1,x2,y\n" + "\n".join(lines) + "\n").encode()


def test_epochs_keep_the_best_round_and_say_held_out_error_rose_after_it() -> None:
    """60 noisy rows and 1,000 epochs: the network learns them by heart long before the end."""
    result = train(read_dataset(_noisy_curve(60, 2)), TrainParams(epochs=1000, seed=2))
    assert result.passes_run == 1000 and result.model_kind == "network"
    history = result.history
    best = int(np.argmin(history["val_loss"]))
    # The kept weights are the round with the lowest held-out error, not the last one.
    assert result.best_pass == history["passes"][best] < 1000
    assert history["val_loss"][-1] > 1.05 * history["val_loss"][best]
    assert result.verdict.kind == verdicts.CURVED_OVERFIT
    for said in (
        summary_words.verdict(result.verdict),
        summary_words.model_in_words(result.verdict.to_dict()),
    ):
        assert f"lowest after {result.best_pass} epochs" in said and "fewer epochs" in said
        assert "more epochs may help" not in said


def test_the_tutorials_rounds_never_repeat_a_wide_table() -> None:
    """A single network repeats its rows within a round (fewer Keras epochs), but only up to a
    million values: 2,000 rows of 500 inputs are not copied ten times for epochs=5000."""
    wide = schedule(replace(TUTORIAL, epochs=5000), 2000, 500)
    assert wide.repeats == 1 and wide.passes == 5000
    narrow = schedule(replace(TUTORIAL, epochs=5000), 2000, 1)
    assert narrow.repeats == 10 and narrow.passes == 5000
