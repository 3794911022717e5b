"""Regression metrics and the straight-line (ordinary least squares) baseline."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def regression_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float | None]:
    """MSE, RMSE, MAE and R² of ``predicted`` against ``actual`` (R² None if actual is flat)."""
    actual = np.asarray(actual, dtype=np.float64).ravel()
    predicted = np.asarray(predicted, dtype=np.float64).ravel()
    if actual.size == 0:
        raise ValueError("no rows to measure")
    error = predicted - actual
    mse = float(np.mean(error**2))
    total = float(np.sum((actual - actual.mean()) ** 2))
    # None rather than NaN: these dicts are stored as JSON, which has no NaN.
    r2 = 1.0 - float(np.sum(error**2)) / total if total > 0 else None
    return {"mse": mse, "rmse": mse**0.5, "mae": float(np.mean(np.abs(error))), "r2": r2}


@dataclass(frozen=True)
class LinearFit:
    """y ≈ features @ coefficients + intercept."""

    coefficients: np.ndarray
    intercept: float

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Predicted targets for rows of ``features``."""
        return np.asarray(features, dtype=np.float64) @ self.coefficients + self.intercept


def fit_linear(features: np.ndarray, target: np.ndarray) -> LinearFit:
    """Least-squares line (plane) with intercept, via numpy lstsq."""
    features = np.asarray(features, dtype=np.float64)
    # Centring first keeps lstsq well conditioned when x is far from zero (e.g. years).
    x_mean = features.mean(axis=0)
    y_mean = float(np.mean(target))
    coefficients, *_ = np.linalg.lstsq(features - x_mean, np.asarray(target) - y_mean, rcond=None)
    return LinearFit(coefficients=coefficients, intercept=y_mean - float(x_mean @ coefficients))


# Ridge penalties tried, as multiples of the row count (inputs are standardised first).
RIDGE_PENALTIES = np.concatenate([[0.0], np.logspace(-7, 2, 37)])


def fit_ridge(features: np.ndarray, target: np.ndarray) -> LinearFit:
    """Ridge regression with intercept, its penalty chosen by exact leave-one-out error.

    On a noiseless line the smallest penalty wins and this is least squares; with few rows
    and many inputs a larger one wins. Leave-one-out residuals come from one SVD for every
    penalty (residual / (1 - leverage)), so the choice costs no refitting.
    """
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    n = len(y)
    x_mean, y_mean = x.mean(axis=0), float(y.mean())
    x_std = x.std(axis=0)
    x_std = np.where(x_std > 0, x_std, 1.0)
    xc, yc = (x - x_mean) / x_std, y - y_mean
    u, s, vt = np.linalg.svd(xc, full_matrices=False)
    uy = u.T @ yc
    best: tuple[float, np.ndarray] | None = None
    for penalty in RIDGE_PENALTIES * max(n, 1):
        kept = s > 1e-12 * max(1.0, float(s[0]) if len(s) else 1.0)
        shrink = np.divide(s**2, s**2 + penalty, out=np.zeros_like(s), where=kept)
        fitted = u @ (shrink * uy)
        leverage = 1.0 / n + (u**2) @ shrink
        if n < 3 or np.any(leverage >= 1.0 - 1e-9):
            loo = float(np.mean((yc - fitted) ** 2))
        else:
            loo = float(np.mean(((yc - fitted) / (1.0 - leverage)) ** 2))
        if best is None or loo < best[0] * (1 - 1e-9):
            inverse = np.divide(s, s**2 + penalty, out=np.zeros_like(s), where=kept)
            coefficients = vt.T @ (inverse * uy)
            best = (loo, coefficients)
    assert best is not None
    coefficients = best[1] / x_std
    return LinearFit(coefficients=coefficients, intercept=y_mean - float(x_mean @ coefficients))
