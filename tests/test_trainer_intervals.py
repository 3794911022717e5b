"""How sure a prediction is: the conformal interval's numbers on made data with known noise, and
its scale model against scikit-learn's ridge (NumPy only, no Keras)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn.linear_model import RidgeCV

from trainer.judge.intervals import (
    PENALTIES,
    IntervalModel,
    _ridge,
    conformal_quantile,
    fit_interval,
)

Z90 = 1.6448536269514722  # the standard normal's 95th percentile: ideal ±, in noise units


def _truth(x: np.ndarray) -> np.ndarray:
    return np.sin(3 * x[:, 0]) + x[:, 1]


def _table(n: int, seed: int, noise) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Inputs, targets, a good model's predictions (off by a little), and the noise's sd."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (n, 3))
    sd = noise(x)
    y = _truth(x) + rng.normal(size=n) * sd
    return x, y, _truth(x) + rng.normal(0, 0.05, n), sd


def constant(x: np.ndarray) -> np.ndarray:
    return np.full(len(x), 0.5)


def growing(x: np.ndarray) -> np.ndarray:
    return 0.1 + 1.2 * x[:, 2]  # 13 times as noisy at one end as at the other


def _fresh_coverage(model: IntervalModel, noise, seed: int = 99):
    x, y, _, sd = _table(2000, seed, noise)
    low, high = model.bounds(x, _truth(x))
    inside = (y >= low) & (y <= high)
    return inside, (high - low) / 2, sd


def test_the_conformal_quantile_is_the_finite_sample_rank() -> None:
    scores = np.arange(1.0, 20.0)  # 19 scores: rank ceil(20 * 0.9) = 18
    assert conformal_quantile(scores) == 18.0
    assert conformal_quantile(np.arange(1.0, 101.0)) == 91.0  # ceil(101 * 0.9)
    # Fewer than 9 scores cannot promise 90 %: no finite interval, so no interval at all.
    assert math.isinf(conformal_quantile(np.ones(8)))
    assert fit_interval(np.ones(8), np.zeros(8), np.zeros((8, 1))) is None


def test_constant_noise_gets_one_width_that_covers_nine_in_ten_fresh_rows() -> None:
    x, y, predicted, _ = _table(1000, 0, constant)
    model = fit_interval(y, predicted, x, np.arange(1000) % 5)
    assert model is not None and not model.varies
    inside, half, sd = _fresh_coverage(model, constant)
    assert 0.87 <= inside.mean() <= 0.93
    assert np.mean(half) / (Z90 * np.mean(sd)) < 1.15  # near the ideal width


def test_noise_that_grows_with_an_input_gets_a_width_that_grows_with_it() -> None:
    x, y, predicted, _ = _table(1000, 1, growing)
    model = fit_interval(y, predicted, x, np.arange(1000) % 5)
    assert model is not None and model.varies
    inside, half, sd = _fresh_coverage(model, growing)
    assert 0.87 <= inside.mean() <= 0.93
    assert np.mean(half) / (Z90 * np.mean(sd)) < 1.15
    calm, wild = sd <= np.quantile(sd, 0.25), sd >= np.quantile(sd, 0.75)
    # Each end is covered about as it should be, not the calm end always and the wild end rarely.
    assert inside[wild].mean() > 0.85 and inside[calm].mean() < 0.98
    assert np.mean(half[wild]) > 3 * np.mean(half[calm])


def test_without_folds_a_held_out_share_is_split_for_the_scale_model() -> None:
    x, y, predicted, _ = _table(600, 2, growing)
    model = fit_interval(y, predicted, x)
    assert model is not None and model.varies
    assert 0.86 <= _fresh_coverage(model, growing)[0].mean() <= 0.94


@pytest.mark.parametrize("rows", [30, 60])
def test_small_tables_keep_a_constant_width_unless_a_scale_clearly_helps(rows: int) -> None:
    coverage, varied = [], []
    for seed in range(10):
        x, y, predicted, _ = _table(rows, seed, constant)
        model = fit_interval(y, predicted, x, np.arange(rows) % 5)
        assert model is not None
        varied.append(model.varies)
        coverage.append(_fresh_coverage(model, constant, seed=100 + seed)[0].mean())
    assert not any(varied)  # noise is constant: a scale model never earns its place
    assert 0.85 <= np.mean(coverage) <= 0.95


def test_the_scale_never_leaves_the_range_it_was_fitted_on() -> None:
    x, y, predicted, _ = _table(1000, 3, growing)
    model = fit_interval(y, predicted, x, np.arange(1000) % 5)
    assert model is not None and model.scale is not None
    inside = model.half_width(x, predicted)
    far = model.half_width(x * 50 - 20, predicted * 50)
    assert far.min() >= inside.min() * 0.999 and far.max() <= inside.max() * 1.001


def test_an_exact_model_gets_a_zero_width() -> None:
    x = np.linspace(0, 1, 50)[:, None]
    model = fit_interval(2 * x[:, 0], 2 * x[:, 0], x)
    assert model is not None and model.quantile == 0 and not model.varies
    low, high = model.bounds(x, 2 * x[:, 0])
    np.testing.assert_array_equal(low, high)


def test_the_model_survives_json_and_gives_the_same_bounds() -> None:
    x, y, predicted, _ = _table(800, 4, growing)
    model = fit_interval(y, predicted, x, np.arange(800) % 5)
    assert model is not None and model.varies
    again = IntervalModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert again is not None and again.varies and again.rows == 800
    np.testing.assert_allclose(again.bounds(x, predicted), model.bounds(x, predicted))
    assert IntervalModel.from_dict(None) is None


@pytest.mark.parametrize(("rows", "columns"), [(300, 6), (40, 30), (500, 12)])
def test_the_scale_models_ridge_matches_scikit_learn(rows: int, columns: int) -> None:
    rng = np.random.default_rng(rows)
    x = rng.normal(size=(rows, columns))
    y = x @ rng.normal(size=columns) + rng.normal(size=rows) * 3
    coefficients, intercept = _ridge(x, y)
    oracle = RidgeCV(alphas=PENALTIES[1:] * rows).fit(x, y)
    np.testing.assert_allclose(coefficients, oracle.coef_, atol=1e-8)
    assert intercept == pytest.approx(oracle.intercept_, abs=1e-8)


def test_the_ridge_of_collinear_columns_is_finite() -> None:
    rng = np.random.default_rng(0)
    column = rng.normal(size=(100, 1))
    coefficients, intercept = _ridge(np.hstack([column, column, np.ones((100, 1))]), column[:, 0])
    assert np.isfinite(coefficients).all() and math.isfinite(intercept)
