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


# Ridge penalties tried, as multiples of the row count (real inputs are standardised first):
# from next to nothing up to enough to leave little but the mean. Penalty 0 is not among them:
# on a table with as many inputs as rows it interpolates, and no leave-one-out can score it.
RIDGE_PENALTIES = np.logspace(-7, 3, 41)
# A leave-one-out denominator (1 - leverage) below this is a row the fit interpolates.
MIN_FREEDOM = 1e-7


def fit_ridge(features: np.ndarray, target: np.ndarray) -> LinearFit:
    """Ridge regression with intercept, its penalty chosen by exact leave-one-out error.

    On a noiseless line the smallest penalty wins and this is least squares; with few rows
    and many inputs a larger one wins.
    """
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    x_mean, y_mean = x.mean(axis=0), float(y.mean())
    # Every column is penalised in standard units, 0/1 columns too (glmnet's default): a rare
    # level is shrunk no more than a number. Across the benchmark's tables with categories this
    # did better out of fold than leaving 0/1 columns as they are, and better than letting
    # leave-one-out choose between the two.
    x_std = x.std(axis=0)
    x_std = np.where(x_std > 0, x_std, 1.0)
    _, coefficients = _ridge_by_loo((x - x_mean) / x_std, y - y_mean)
    coefficients = coefficients / x_std
    return LinearFit(coefficients=coefficients, intercept=y_mean - float(x_mean @ coefficients))


def _ridge_by_loo(xc: np.ndarray, yc: np.ndarray) -> tuple[float, np.ndarray]:
    """The leave-one-out error and coefficients of the best penalty, for centred data.

    Leave-one-out residuals come from one SVD for every penalty (residual / (1 - leverage)),
    so the choice costs no refitting. Both the residual and 1 - leverage are computed from the
    penalty's share ``penalty / (s² + penalty)`` and the part of each row outside the inputs'
    span, not as differences of nearly equal numbers, so a near-interpolating penalty gets its
    true (large) leave-one-out error; a penalty that leaves some row with no freedom at all is
    never chosen.
    """
    n = len(yc)
    u, s, vt = np.linalg.svd(xc, full_matrices=False)
    kept = s > 1e-10 * max(1.0, float(s[0]) if len(s) else 1.0)
    u, s, vt = u[:, kept], s[kept], vt[kept]
    uy = u.T @ yc
    # What of each row and of y lies outside the inputs' span: no penalty fits it.
    outside_row = np.clip(1.0 - 1.0 / n - np.sum(u**2, axis=1), 0.0, None)
    outside_y = yc - u @ uy
    best_loo, best_penalty = np.inf, float(RIDGE_PENALTIES[-1] * max(n, 1))
    for penalty in RIDGE_PENALTIES * max(n, 1):
        share = penalty / (s**2 + penalty)  # how much of each direction the penalty removes
        residual = outside_y + u @ (share * uy)
        freedom = outside_row + (u**2) @ share  # 1 - leverage
        if n < 3 or np.any(freedom < MIN_FREEDOM):
            continue
        loo = float(np.mean((residual / freedom) ** 2))
        if loo < best_loo * (1 - 1e-9):
            best_loo, best_penalty = loo, float(penalty)
    return best_loo, vt.T @ (s / (s**2 + best_penalty) * uy)
