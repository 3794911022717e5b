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
