"""Several chats' tables trained as one program: each gets what it would get alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.alone_or_batched import compare
from trainer import examples
from trainer.backend import backend_name
from trainer.learn.batch import TrainRequest, train_batch
from trainer.learn.programs import ProgramCache
from trainer.learn.training import train
from trainer.params import TrainParams
from trainer.progress import Cancelled, Progress
from trainer.tables.dataset import Dataset, read_dataset

GRID = np.linspace(-2.5, 2.5, 11)[:, None]


def _square(seed: int) -> Dataset:
    return read_dataset(examples.curve_csv("square", 300, seed=seed))


def _truth_error(result: object) -> float:
    return float(np.mean((result.predict(GRID) - GRID[:, 0] ** 2) ** 2))  # type: ignore[attr-defined]


class RecordingClock:
    """A job's clock as the worker's Watch keeps it: running, or paused while it waits."""

    def __init__(self) -> None:
        self.running = True
        self.pauses = 0

    def pause(self) -> None:
        self.running, self.pauses = False, self.pauses + 1

    def resume(self) -> None:
        self.running = True


# Per table of the batch below: whose clocks ran each time it reported progress.
CLOCKS = [RecordingClock() for _ in range(4)]
RUNNING_AT_PROGRESS: list[tuple[int, list[bool]]] = []


def _recorded(index: int) -> Callable[[Progress], bool]:
    def on_progress(_: Progress) -> bool:
        RUNNING_AT_PROGRESS.append((index, [clock.running for clock in CLOCKS]))
        return True

    return on_progress


@pytest.fixture(scope="module")
def batched() -> list[object]:
    tables = [
        (_square(1), TrainParams(seed=1)),
        (_square(2), TrainParams(seed=7)),
        # Another shape: a program of its own.
        (read_dataset(examples.big_csv(250, seed=3)), TrainParams(seed=0, epochs=8)),
        (read_dataset(examples.noisy_linear_csv(300, seed=4)), TrainParams(seed=2)),
    ]
    requests = [
        TrainRequest(table, params, _recorded(index), CLOCKS[index])
        for index, (table, params) in enumerate(tables)
    ]
    return train_batch(requests, programs=ProgramCache())


def test_a_tables_clock_stands_while_other_programs_of_its_batch_train(
    batched: list[object],
) -> None:
    """Two programs train one after another (three tables of one shape, then another shape):
    whenever a table reports progress its clock runs, and those of the other program stand."""
    assert {index for index, _ in RUNNING_AT_PROGRESS} == {0, 1, 2, 3}
    programs = {0: {0, 1, 3}, 1: {0, 1, 3}, 2: {2}, 3: {0, 1, 3}}
    for index, running in RUNNING_AT_PROGRESS:
        assert {i for i, on in enumerate(running) if on} == programs[index]
    # Afterwards every clock runs again (the reply is each job's own work).
    assert all(clock.running and clock.pauses for clock in CLOCKS)


def test_each_table_in_a_batch_gets_what_it_would_get_alone(batched: list[object]) -> None:
    first, second, other_shape, line = batched
    for result, seed, table in ((first, 1, 1), (second, 7, 2)):
        alone = train(_square(table), TrainParams(seed=seed), programs=ProgramCache())
        assert result.model_kind == alone.model_kind == "network"  # type: ignore[attr-defined]
        # The same network as alone: its own shuffle, its own loss, the same rounds.
        np.testing.assert_allclose(result.predict(GRID), alone.predict(GRID), rtol=0, atol=1e-6)  # type: ignore[attr-defined]
        assert result.best_pass == alone.best_pass and result.passes_run == alone.passes_run  # type: ignore[attr-defined]
        assert _truth_error(result) < 0.02
        validation = result.validation  # type: ignore[attr-defined]
        assert validation["network_mse"] < validation["line_mse"] / 50
    assert other_shape.feature_names == ["a", "b"] and other_shape.passes_run == 8  # type: ignore[attr-defined]
    # A noisy line gets the ridge line, which does not depend on what trained beside it.
    alone = train(read_dataset(examples.noisy_linear_csv(300, seed=4)), TrainParams(seed=2))
    assert line.model_kind == alone.model_kind == "line"  # type: ignore[attr-defined]
    np.testing.assert_allclose(line.predict(GRID), alone.predict(GRID), rtol=1e-6)  # type: ignore[attr-defined]
    # How sure and what drives it come from each table's own held-out rows, as alone.
    assert line.interval == alone.interval and line.importance == alone.importance  # type: ignore[attr-defined]
    assert all(result.interval and result.importance for result in batched)  # type: ignore[attr-defined]


def test_a_table_cancelled_in_a_batch_leaves_the_others_alone() -> None:
    reports: list[Progress] = []

    def cancel(progress: Progress) -> bool:
        return False

    results = train_batch(
        [
            TrainRequest(_square(1), TrainParams(seed=1), on_progress=cancel),
            TrainRequest(_square(2), TrainParams(seed=7), on_progress=reports.append),
        ],
        progress_interval=0.0,
        programs=ProgramCache(),
    )
    assert isinstance(results[0], Cancelled)
    kept = results[1]
    assert not isinstance(kept, Exception) and _truth_error(kept) < 0.02
    assert reports and reports[-1].passes_done == kept.passes_run


def test_a_table_that_fails_fails_alone() -> None:
    broken = Dataset(np.ones((12, 1)), np.arange(12.0), ["x"], "y")
    broken.features = np.full((12, 1), np.nan)  # what no parser lets through
    results = train_batch(
        [TrainRequest(broken, TrainParams()), TrainRequest(_square(3), TrainParams(seed=0))],
        programs=ProgramCache(),
    )
    assert isinstance(results[0], Exception)
    assert not isinstance(results[1], Exception) and results[1].model_kind == "network"


def test_a_job_trains_the_same_alone_or_beside_other_chats_jobs_with_epochs_set() -> None:
    """Second of three tables (another chat's seed first, one padded from fewer rows)."""
    compared = compare(epochs=40)
    assert compared["difference"] <= 1e-6, compared
    assert compared["passes"] == [40, 40] and compared["best"][0] == compared["best"][1]


def test_on_the_other_backend_a_job_trains_the_same_alone_or_batched() -> None:
    """The default recipe (early stopping and all) under the backend this process is not
    using, in a subprocess."""
    other = "jax" if backend_name() == "tensorflow" else "tensorflow"
    completed = subprocess.run(
        [sys.executable, "-m", "tests.alone_or_batched"],
        env={**os.environ, "KERAS_BACKEND": other},
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    compared = json.loads(completed.stdout.strip().splitlines()[-1])
    assert compared["backend"] == other
    assert compared["difference"] <= 1e-6, compared
    assert compared["passes"][0] == compared["passes"][1], compared
    assert compared["network_mse"][0] == pytest.approx(compared["network_mse"][1], rel=1e-9)
