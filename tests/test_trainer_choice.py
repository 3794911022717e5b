"""Network or line: the round is chosen on other rows than those it is scored on, and the
network must beat the line by 1 % and by two standard errors to be kept."""

from __future__ import annotations

import numpy as np

from trainer.judge.choice import honest_out_of_fold, network_wins
from trainer.learn.crossval import fold_of_each_row
from trainer.learn.training import train
from trainer.params import TrainParams
from trainer.tables.dataset import Dataset


def test_choosing_a_round_on_its_own_rows_flatters_it_and_the_honest_figure_does_not() -> None:
    rng = np.random.default_rng(0)
    n, rounds = 60, 40
    actual = rng.normal(size=n)
    # Forty rounds, each as good as the others in truth: their held-out errors differ by luck.
    predictions = actual + rng.normal(0, 1.0, (rounds, n))
    fold = fold_of_each_row(n, 5, seed=0)
    flattering, honest = [], []
    for seed in range(30):
        predictions = actual + np.random.default_rng(seed).normal(0, 1.0, (rounds, n))
        errors = np.mean((predictions - actual) ** 2, axis=1)
        flattering.append(errors.min())
        chosen = honest_out_of_fold(predictions, actual, fold, seed)
        honest.append(np.mean((chosen - actual) ** 2))
    # The truth is 1.0 for every round.
    assert np.mean(flattering) < 0.8
    assert 0.9 < np.mean(honest) < 1.1


def test_every_held_out_row_gets_an_honest_prediction() -> None:
    rng = np.random.default_rng(1)
    actual = rng.normal(size=23)
    predictions = actual + rng.normal(size=(5, 23))
    fold = fold_of_each_row(23, 5, seed=3)
    honest = honest_out_of_fold(predictions, actual, fold, seed=0)
    assert np.all(np.isfinite(honest))
    # Each row's prediction is one of its rounds' predictions.
    assert all(np.any(np.isclose(predictions[:, row], honest[row])) for row in range(23))


def test_a_gain_within_two_standard_errors_keeps_the_line() -> None:
    rng = np.random.default_rng(2)
    actual = rng.normal(size=50)
    line = actual + rng.normal(0, 1.0, 50)
    # A network 23 % better on these rows, but by only 1.7 standard errors.
    network = line + 0.2 * (actual - line) + rng.normal(0, 0.35, 50)
    gain = (line - actual) ** 2 - (network - actual) ** 2
    z = gain.mean() / (gain.std(ddof=1) / np.sqrt(50))
    assert 1.0 < z < 2.0
    assert network_wins(actual, network, line, margin=0.01, z=1.0)
    assert not network_wins(actual, network, line, margin=0.01)


def test_noisy_small_tables_keep_the_line() -> None:
    kinds = []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(40, 4))
        y = x @ [1.0, -0.5, 0.3, 0.0] + rng.normal(0, 2.0, 40)
        dataset = Dataset(x, y, ["a", "b", "c", "d"], "y")
        result = train(dataset, TrainParams(seed=seed))
        kinds.append(result.model_kind)
        # The figures shown compare the same line the choice did.
        assert result.choice.numbers["line_mse"] == result.validation["line_mse"]
        line_mse = result.baseline_metrics["validation"]["mse"]
        assert line_mse == np.float64(result.validation["line_mse"]) or np.isclose(
            line_mse, result.validation["line_mse"]
        )
    assert kinds == ["line"] * 3
