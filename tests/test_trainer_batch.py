"""Several chats' tables trained as one program: each gets what it would get alone."""

from __future__ import annotations

import numpy as np
import pytest

from trainer import examples
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


@pytest.fixture(scope="module")
def batched() -> list[object]:
    requests = [
        TrainRequest(_square(1), TrainParams(seed=1)),
        TrainRequest(_square(2), TrainParams(seed=7)),
        # Another shape: a program of its own.
        TrainRequest(read_dataset(examples.big_csv(250, seed=3)), TrainParams(seed=0, epochs=8)),
        TrainRequest(read_dataset(examples.noisy_linear_csv(300, seed=4)), TrainParams(seed=2)),
    ]
    return train_batch(requests, programs=ProgramCache())


def test_each_table_in_a_batch_gets_what_it_would_get_alone(batched: list[object]) -> None:
    first, second, other_shape, line = batched
    for result, seed, table in ((first, 1, 1), (second, 7, 2)):
        alone = train(_square(table), TrainParams(seed=seed), programs=ProgramCache())
        assert result.model_kind == alone.model_kind == "network"  # type: ignore[attr-defined]
        # The same quality as alone (a seed moves this table's error by 5x either way).
        assert _truth_error(result) < 0.02 and _truth_error(alone) < 0.02
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
