"""How close predictions come to the targets: MSE, RMSE, MAE and R²."""

from __future__ import annotations

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
