"""How sure a model is and what drives it, from the rows it never learned: the 90 % interval
every prediction gets (trainer.judge.intervals) and each input column's share of what the
model knows (trainer.judge.importance), attached to a Fit.

Both recipes call ``explain`` once their held-out predictions are known: the default recipe
with each member's held-out fold, the tutorial's network with its held-out share. With
nothing held out there is nothing honest to say, and the Fit says nothing.
"""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from trainer.judge.importance import MAX_ROWS, Predict, permutation_rises, shares
from trainer.judge.intervals import fit_interval
from trainer.learn.fit import Fit
from trainer.tables.dataset import Dataset

# Rows the interval is calibrated on, and rows its typical width is measured on: more cost
# time and change nothing that is shown.
INTERVAL_ROWS = 20_000
SAMPLE_ROWS = 5_000
# Fewer held-out rows than this tell nothing about which input matters.
MIN_ROWS_IMPORTANCE = 10


def explain(
    result: Fit, dataset: Dataset, rows: np.ndarray, folds: np.ndarray, predict: Predict, seed: int
) -> None:
    """Give ``result`` its interval (stored with the model, in ``scaling["interval"]``) and
    the importance of each input column.

    ``result.held_out`` holds each held-out row's prediction; ``folds`` says which rows were
    held out together (-1: learned by every model); ``predict(rows, folds)`` predicts
    ``rows`` (in the units of ``rows``) each by the model that did not learn its fold.
    """
    if result.held_out is None:
        return
    # Small matrix products: one BLAS thread does them as fast, while several spin against the
    # training threads of a busy host (a scale model's fit took 25 times as long on 2 cores).
    with threadpool_limits(limits=1, user_api="blas"):
        _explain(result, dataset, rows, np.asarray(folds), predict, seed)


def _explain(
    result: Fit, dataset: Dataset, rows: np.ndarray, folds: np.ndarray, predict: Predict, seed: int
) -> None:
    assert result.held_out is not None
    held = np.flatnonzero((folds >= 0) & np.isfinite(result.held_out))
    if not len(held):
        return
    rng = np.random.default_rng(seed)
    _interval(result, dataset, folds, _some(held, INTERVAL_ROWS, rng), rng)
    if len(held) < MIN_ROWS_IMPORTANCE:
        return
    plan = dataset.column_plan
    groups, start = [], 0
    for names in plan.feature_groups():
        groups.append(list(range(start, start + len(names))))
        start += len(names)
    # The rows are chosen here, not in permutation_rises: a big table is not copied whole.
    some = _some(held, MAX_ROWS, rng)
    rises = permutation_rises(
        rows[some], dataset.target[some], folds[some], groups, predict, seed=seed
    )
    ranked = sorted(zip(plan.input_names, shares(rises), strict=True), key=lambda p: -p[1])
    result.importance = {name: float(share) for name, share in ranked}


def _interval(
    result: Fit, dataset: Dataset, folds: np.ndarray, held: np.ndarray, rng: np.random.Generator
) -> None:
    """The interval, calibrated on the ``held`` rows, and its typical half-width."""
    assert result.held_out is not None
    several = len(np.unique(folds[held])) > 1
    interval = fit_interval(
        dataset.target[held], result.held_out[held], dataset.features[held],
        folds[held] if several else None, seed=int(rng.integers(1 << 31)),
    )  # fmt: skip
    if interval is None:
        return
    result.scaling["interval"] = interval.to_dict()
    some = _some(np.arange(dataset.n_rows), SAMPLE_ROWS, rng)
    features = dataset.features[some]
    half = interval.half_width(features, result.predict(features))
    result.interval = {
        "level": interval.level,
        "half_width": float(np.median(half)),
        "varies": interval.varies,
    }


def _some(rows: np.ndarray, most: int, rng: np.random.Generator) -> np.ndarray:
    """``rows``, or ``most`` of them chosen at random, in order."""
    return rows if len(rows) <= most else np.sort(rng.choice(rows, most, replace=False))
