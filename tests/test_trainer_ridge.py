"""The ridge line: its penalty chosen by exact leave-one-out error that cannot pick an
interpolant, checked against scikit-learn's RidgeCV on many small wide tables."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, RidgeCV

from trainer.judge.lines import RIDGE_PENALTIES, fit_ridge
from trainer.learn.scaling import apply_scaling, fit_scaling


def _small_wide_table(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """n in 8..40 training rows, up to 2n inputs of mixed scales, and 500 fresh rows."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(8, 41))
    p = int(rng.integers(1, 2 * n + 1))
    weights = rng.normal(size=p) * (rng.random(p) < 0.5)
    x = rng.normal(size=(n + 500, p)) * rng.uniform(0.1, 10, p) + rng.normal(0, 5, p)
    standard = (x - x.mean(axis=0)) / x.std(axis=0)
    y = standard @ weights + rng.normal(0, rng.uniform(0.3, 3), n + 500)
    return x[:n], y[:n], x[n:], y[n:]


def _mse(predicted: np.ndarray, actual: np.ndarray) -> float:
    return float(np.mean((predicted - actual) ** 2))


def test_ridge_matches_ridgecv_on_fifty_small_wide_tables() -> None:
    ratios, against_default = [], []
    for seed in range(50):
        x, y, x_new, y_new = _small_wide_table(seed)
        ours = _mse(fit_ridge(x, y).predict(x_new), y_new)
        # The same penalties on the same standardised inputs: RidgeCV's exact leave-one-out.
        mean, std = x.mean(axis=0), x.std(axis=0)
        oracle = RidgeCV(alphas=RIDGE_PENALTIES * len(y)).fit((x - mean) / std, y)
        ratios.append(ours / _mse(oracle.predict((x_new - mean) / std), y_new))
        default = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(x, y)
        against_default.append(ours / _mse(default.predict(x_new), y_new))
    assert max(ratios) < 1.01
    # Against RidgeCV's usual use (raw inputs, its own grid) it may lose a table, not the run.
    assert np.exp(np.mean(np.log(against_default))) < 1.0


def test_twelve_rows_eleven_inputs_is_not_interpolated() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(512, 11))
    y = x @ rng.normal(0, 0.5, 11) + rng.normal(0, 1.0, 512)
    ridge = fit_ridge(x[:12], y[:12])
    interpolant = LinearRegression().fit(x[:12], y[:12])
    # Least squares fits the 12 rows exactly; the ridge must not.
    assert _mse(interpolant.predict(x[:12]), y[:12]) < 1e-12
    assert _mse(ridge.predict(x[:12]), y[:12]) > 1e-3
    oracle = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(x[:12], y[:12])
    ours = _mse(ridge.predict(x[12:]), y[12:])
    assert ours < 1.2 * _mse(oracle.predict(x[12:]), y[12:])
    assert ours < 0.5 * _mse(interpolant.predict(x[12:]), y[12:])


def test_a_noiseless_line_is_least_squares() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 3))
    y = x @ [1.0, -2.0, 0.5] + 4
    ridge = fit_ridge(x, y)
    np.testing.assert_allclose(ridge.coefficients, [1.0, -2.0, 0.5], atol=1e-4)


@pytest.mark.parametrize("rows", [1, 2])
def test_one_or_two_rows_give_about_the_mean(rows: int) -> None:
    x, y = np.arange(rows, dtype=float)[:, None], np.arange(rows, dtype=float) * 3
    assert ridge_predicts_finite(x, y)


def ridge_predicts_finite(x: np.ndarray, y: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(fit_ridge(x, y).predict(x))))


def test_zero_one_columns_are_not_standardised() -> None:
    rng = np.random.default_rng(0)
    price = rng.normal(100, 20, 6000)
    rare = np.zeros(6000)
    rare[[5, 700]] = 1.0  # a level on 2 of 6,000 rows
    flag = (rng.random(6000) < 0.3).astype(float)
    features = np.column_stack([price, rare, flag])
    scaling = fit_scaling(features, price * 2, scale=True)
    x, _ = apply_scaling(scaling, features, price * 2)
    assert scaling["x_mean"][1:] == [0.0, 0.0] and scaling["x_std"][1:] == [1.0, 1.0]
    assert set(np.unique(x[:, 1])) == {0.0, 1.0} and set(np.unique(x[:, 2])) == {0.0, 1.0}
    assert abs(float(x[:, 0].mean())) < 1e-4 and abs(float(x[:, 0].std()) - 1) < 1e-3
