"""How sure a prediction is: a 90 % prediction interval from residuals on rows the model never
learned (split conformal, with the finite-sample quantile).

The half-width is ``quantile * scale(x)``. ``scale`` is 1 (the same width everywhere) unless a
model of the residuals' size earns its place: a ridge fit of ``|residual|`` on the inputs, the
prediction and their squares (normalised conformal). It is cross-fitted on the same folds as
the residuals, so the normalised scores it is judged and calibrated on are out of fold too, and
it is kept only when, both calibrated to the same 90 % of held-out rows inside, its intervals
score clearly better than the constant ones (the interval score: narrow where rows are calm,
wide where they are not). On few rows it is never tried.

NumPy only; the model's metadata holds ``IntervalModel.to_dict()`` and a Predictor reads it
back to give every prediction its ``low`` and ``high``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

LEVEL = 0.9
# Fewer held-out rows than this: one width for every prediction (a scale model would be noise).
MIN_ROWS_VARYING = 50
# A varying width must lower the intervals' mean interval score (width plus a penalty for
# each miss, out of fold) by this share to be kept.
VARYING_GAIN = 0.05
# The scale never goes below this share of the mean |residual| (a line through |residuals|
# may dip to zero, and a zero scale would promise an exact prediction).
SCALE_FLOOR = 0.1
# Rows a scale model is fitted on at most (chosen at random): more change it little.
SCALE_ROWS = 4000
# Folds of the scale model when the residuals come without any (a held-out share).
SCALE_FOLDS = 5


def conformal_quantile(scores: np.ndarray, level: float = LEVEL) -> float:
    """The ``ceil((n + 1) * level)``-th smallest score: with exchangeable rows, a new row's
    score is at most this with probability at least ``level``. Infinite when there are too few
    scores for that promise (fewer than 9 at 90 %)."""
    ordered = np.sort(np.asarray(scores, np.float64))
    rank = math.ceil((len(ordered) + 1) * level)
    return float(ordered[rank - 1]) if rank <= len(ordered) else math.inf


@dataclass(frozen=True)
class ScaleModel:
    """How large residuals are expected to be at given inputs and prediction (target units).

    A linear function of the z-scored inputs and prediction and of their squares, with z
    clipped to what training rows had and the result clipped to ``[floor, cap]``: it never
    extrapolates beyond the widths it saw.
    """

    center: np.ndarray  # of each input, then of the prediction
    spread: np.ndarray
    low: np.ndarray  # the z range of training rows
    high: np.ndarray
    coefficients: np.ndarray  # on [z, z**2]
    intercept: float
    floor: float
    cap: float

    def __call__(self, features: np.ndarray, predicted: np.ndarray) -> np.ndarray:
        z = (_columns(features, predicted) - self.center) / self.spread
        z = np.clip(z, self.low, self.high)
        raw = np.concatenate([z, z**2], axis=1) @ self.coefficients + self.intercept
        return np.clip(raw, self.floor, self.cap)

    def to_dict(self) -> dict[str, Any]:
        return {
            "center": self.center.tolist(),
            "spread": self.spread.tolist(),
            "low": self.low.tolist(),
            "high": self.high.tolist(),
            "coefficients": self.coefficients.tolist(),
            "intercept": self.intercept,
            "floor": self.floor,
            "cap": self.cap,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScaleModel:
        arrays = {
            key: np.asarray(data[key], np.float64)
            for key in ("center", "spread", "low", "high", "coefficients")
        }
        return cls(
            **arrays,
            intercept=float(data["intercept"]),
            floor=float(data["floor"]),
            cap=float(data["cap"]),
        )

    @classmethod
    def fit(cls, features: np.ndarray, predicted: np.ndarray, size: np.ndarray) -> ScaleModel:
        """A ridge line through ``size`` (|residual|) on the z-scored inputs and prediction and
        their squares, its penalty chosen by leave-one-out error."""
        columns = _columns(features, predicted)
        center = columns.mean(axis=0)
        spread = columns.std(axis=0)
        spread = np.where(spread > 0, spread, 1.0)
        z = (columns - center) / spread
        coefficients, intercept = _ridge(np.concatenate([z, z**2], axis=1), size)
        floor = max(SCALE_FLOOR * float(np.mean(size)), np.finfo(np.float64).tiny)
        unclipped = cls(
            center, spread, z.min(axis=0), z.max(axis=0), coefficients, intercept, floor, math.inf
        )
        cap = max(float(unclipped(features, predicted).max()), floor)
        return replace(unclipped, cap=cap)


@dataclass(frozen=True)
class IntervalModel:
    """``prediction ± quantile * scale(inputs, prediction)``, at ``level``; ``scale`` None means
    the same half-width (``quantile``, target units) everywhere.

    ``rows`` is how many held-out residuals it was calibrated on.
    """

    level: float
    quantile: float
    scale: ScaleModel | None
    rows: int

    @property
    def varies(self) -> bool:
        return self.scale is not None

    def half_width(self, features: np.ndarray, predicted: np.ndarray) -> np.ndarray:
        """The half-width of each row's interval, in target units."""
        predicted = np.asarray(predicted, np.float64).reshape(-1)
        if self.scale is None:
            return np.full(len(predicted), self.quantile)
        return self.quantile * self.scale(features, predicted)

    def bounds(self, features: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) of each prediction."""
        predicted = np.asarray(predicted, np.float64).reshape(-1)
        half = self.half_width(features, predicted)
        return predicted - half, predicted + half

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "quantile": self.quantile,
            "scale": self.scale.to_dict() if self.scale is not None else None,
            "rows": self.rows,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> IntervalModel | None:
        """The model stored by ``to_dict``; None for None (models without an interval)."""
        if not data:
            return None
        scale = data.get("scale")
        return cls(
            level=float(data["level"]),
            quantile=float(data["quantile"]),
            scale=ScaleModel.from_dict(scale) if scale else None,
            rows=int(data.get("rows", 0)),
        )


def fit_interval(
    actual: np.ndarray,
    predicted: np.ndarray,
    features: np.ndarray,
    folds: np.ndarray | None = None,
    *,
    level: float = LEVEL,
    seed: int = 0,
) -> IntervalModel | None:
    """The interval of a model from rows of ``features`` whose ``predicted`` values came from
    models that never learned them; ``folds`` says which rows were held out together (None:
    one held-out share). None when there are too few rows to promise ``level``.

    With folds, the model used is one fitted on every row (or the folds' models' average):
    it learned from more rows than the models whose residuals calibrate it, so its intervals
    err on the safe side, the more so the fewer the rows.
    """
    actual = np.asarray(actual, np.float64).reshape(-1)
    predicted = np.asarray(predicted, np.float64).reshape(-1)
    features = np.asarray(features, np.float64).reshape(len(actual), -1)
    size = np.abs(actual - predicted)
    constant = conformal_quantile(size, level)
    if not math.isfinite(constant):
        return None
    chosen = IntervalModel(level, constant, None, len(size))
    if len(size) < MIN_ROWS_VARYING or constant <= 0:
        return chosen
    rng = np.random.default_rng(seed)
    if folds is None:
        folds = rng.permutation(len(size)) % SCALE_FOLDS
    scale = _cross_fitted_scale(features, predicted, size, np.asarray(folds), rng)
    if scale is None:
        return chosen
    quantile = conformal_quantile(size / scale, level)
    varying = _interval_score(size, quantile * scale, level)
    if varying > (1 - VARYING_GAIN) * _interval_score(size, np.full(len(size), constant), level):
        return chosen
    some = _some(np.arange(len(size)), rng)
    model = ScaleModel.fit(features[some], predicted[some], size[some])
    return IntervalModel(level, quantile, model, len(size))


def _interval_score(size: np.ndarray, half: np.ndarray, level: float) -> float:
    """The mean interval score of intervals of half-width ``half`` around predictions off by
    ``size``: their width, plus 2 / (1 - level) times how far each miss falls outside. It is
    lowest for the true quantiles, so it rewards narrow intervals where the rows are calm and
    wide ones where they are not, not only a narrow mean width."""
    return float(np.mean(2 * half + 2 / (1 - level) * np.clip(size - half, 0.0, None)))


def _cross_fitted_scale(
    features: np.ndarray,
    predicted: np.ndarray,
    size: np.ndarray,
    folds: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray | None:
    """Each row's scale from a scale model fitted on the other folds; None with one fold."""
    groups = np.unique(folds)
    if len(groups) < 2:
        return None
    scale = np.empty(len(size))
    for group in groups:
        rows = folds == group
        others = _some(np.flatnonzero(~rows), rng)
        model = ScaleModel.fit(features[others], predicted[others], size[others])
        scale[rows] = model(features[rows], predicted[rows])
    return scale


def _some(rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``rows``, or SCALE_ROWS of them at random."""
    return rows if len(rows) <= SCALE_ROWS else rng.choice(rows, SCALE_ROWS, replace=False)


# Ridge penalties tried for the scale model, as multiples of the row count.
PENALTIES = np.concatenate([[0.0], np.logspace(-6, 3, 19)])


def _ridge(columns: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, float]:
    """Ridge regression with intercept, its penalty chosen by exact leave-one-out error.

    Through the eigenvectors of the (columns x columns) Gram matrix: the rows are many and the
    columns few, so every penalty's fit and leverages come from two products, no refit.
    """
    n = len(target)
    x_mean, y_mean = columns.mean(axis=0), float(target.mean())
    centred, y = columns - x_mean, target - y_mean
    eigenvalues, vectors = np.linalg.eigh(centred.T @ centred)
    kept = eigenvalues > 1e-9 * max(float(eigenvalues.max()), 1e-300)
    projected = centred @ vectors
    along = projected.T @ y
    # (columns, penalties): each penalty's inverse eigenvalues, dropped directions at zero.
    denominators = eigenvalues[:, None] + PENALTIES * n
    inverse = np.divide(1.0, denominators, out=np.zeros_like(denominators), where=kept[:, None])
    fitted = projected @ (inverse * along[:, None])
    leverage = 1.0 / n + projected**2 @ inverse
    with np.errstate(divide="ignore", invalid="ignore"):
        loo = np.mean(((y[:, None] - fitted) / (1.0 - leverage)) ** 2, axis=0)
    loo[np.any(leverage >= 1.0 - 1e-9, axis=0) | ~np.isfinite(loo)] = np.inf
    if not np.isfinite(loo).any():
        return np.zeros(columns.shape[1]), y_mean
    coefficients = vectors @ (inverse[:, int(np.argmin(loo))] * along)
    return coefficients, y_mean - float(x_mean @ coefficients)


def _columns(features: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    features = np.asarray(features, np.float64)
    predicted = np.asarray(predicted, np.float64).reshape(-1, 1)
    return np.concatenate([features.reshape(len(predicted), -1), predicted], axis=1)
