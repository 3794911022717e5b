"""What drives a model: each input column's share of its out-of-fold accuracy (permutation
importance on held-out rows).

For each of the user's columns (a category's one-hot features and a date's parts together),
its features are shuffled together among the rows a member did not learn, and the rise of
that member's held-out MSE is the column's importance: what the model loses when the column
tells it nothing. Rises are averaged over a few shuffles and made shares that sum to 1; a
rise below zero (the column only added noise) counts as none.

NumPy only; the caller hands in the model as a function of rows and their folds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

# Held-out rows shuffled per column: more cost time and change the shares little.
MAX_ROWS = 1000
# Rows scored per column over all shuffles; small tables get more shuffles, up to MAX_REPEATS.
ROWS_SCORED = 3000
MAX_REPEATS = 10
# Feature cells predicted at once (rows x features of the shuffled copies), to bound memory.
CHUNK_CELLS = 4_000_000

Predict = Callable[[np.ndarray, np.ndarray], np.ndarray]


def permutation_rises(
    features: np.ndarray,
    actual: np.ndarray,
    folds: np.ndarray,
    groups: Sequence[Sequence[int]],
    predict: Predict,
    *,
    seed: int = 0,
) -> np.ndarray:
    """Per group of feature indices, the mean rise of the held-out MSE when the group's
    features are shuffled among the rows of each fold.

    ``predict(rows, folds)`` predicts each row with the model that did not learn its fold.
    Up to MAX_ROWS rows are used (chosen with ``seed``), shuffled ROWS_SCORED / rows times.
    """
    features = np.asarray(features, np.float64)
    actual = np.asarray(actual, np.float64).reshape(-1)
    folds = np.asarray(folds).reshape(-1)
    rng = np.random.default_rng(seed)
    if len(actual) > MAX_ROWS:
        rows = np.sort(rng.choice(len(actual), MAX_ROWS, replace=False))
        features, actual, folds = features[rows], actual[rows], folds[rows]
    n = len(actual)
    if n < 2 or not groups:
        return np.zeros(len(groups))
    repeats = int(np.clip(ROWS_SCORED // n, 1, MAX_REPEATS))
    baseline = _mse(actual, predict(features, folds))
    rises = np.zeros(len(groups))
    for _ in range(repeats):
        order = _shuffle_within(folds, rng)
        rises += _rises(features, actual, folds, groups, predict, order) - baseline
    return rises / repeats


def shares(rises: np.ndarray) -> np.ndarray:
    """Rises as shares summing to 1, rises below zero counted as none; all zeros when no
    column helped."""
    gains = np.clip(np.nan_to_num(np.asarray(rises, np.float64)), 0.0, None)
    total = float(gains.sum())
    return gains / total if total > 0 else np.zeros_like(gains)


def _rises(
    features: np.ndarray,
    actual: np.ndarray,
    folds: np.ndarray,
    groups: Sequence[Sequence[int]],
    predict: Predict,
    order: np.ndarray,
) -> np.ndarray:
    """Each group's held-out MSE with its features taken from the rows ``order`` names:
    the shuffled copies of several groups are predicted in one call."""
    n, width = features.shape
    per_call = max(1, CHUNK_CELLS // max(n * width, 1))
    mse = np.empty(len(groups))
    for start in range(0, len(groups), per_call):
        chunk = groups[start : start + per_call]
        copies = np.broadcast_to(features, (len(chunk), n, width)).copy()
        for copy, group in zip(copies, chunk, strict=True):
            columns = list(group)
            copy[:, columns] = features[order][:, columns]
        predicted = predict(copies.reshape(-1, width), np.tile(folds, len(chunk)))
        errors = (predicted.reshape(len(chunk), n) - actual) ** 2
        mse[start : start + len(chunk)] = errors.mean(axis=1)
    return mse


def _shuffle_within(folds: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A row order that moves each row to another row of its own fold."""
    order = np.arange(len(folds))
    for fold in np.unique(folds):
        rows = np.flatnonzero(folds == fold)
        order[rows] = rows[rng.permutation(len(rows))]
    return order


def _mse(actual: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean((np.asarray(predicted, np.float64).reshape(-1) - actual) ** 2))
