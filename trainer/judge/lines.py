"""The straight-line baselines a network must beat: least squares, and ridge with its penalty
chosen by leave-one-out error (the members' starting lines)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
