"""What drives a model: permutation importance per input column on held-out rows (NumPy only),
with made models whose truth is known, then on a real fit."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.judge import importance
from trainer.judge.importance import permutation_rises, shares


def _made(n: int = 3000, seed: int = 0):
    """A strong input, a weaker one, a category as three one-hot features, and pure noise."""
    rng = np.random.default_rng(seed)
    strong, weak, noise = rng.normal(size=(3, n))
    level = rng.integers(0, 3, n)
    onehot = np.eye(3)[level]
    x = np.column_stack([strong, weak, onehot, noise])
    effect = np.array([0.0, 1.0, -1.0])
    y = 3 * strong + 1 * weak + effect[level] + rng.normal(size=n) * 0.5
    groups = [[0], [1], [2, 3, 4], [5]]
    return x, y, np.arange(n) % 5, groups


def _fitted_per_fold(x: np.ndarray, y: np.ndarray, folds: np.ndarray):
    """Least squares on every fold but one: predict(rows, folds) uses the one that did not
    learn each row's fold, as the members do."""
    models = {}
    for fold in np.unique(folds):
        rows = folds != fold
        design = np.column_stack([x[rows], np.ones(rows.sum())])
        models[fold] = np.linalg.lstsq(design, y[rows], rcond=None)[0]

    def predict(rows: np.ndarray, row_folds: np.ndarray) -> np.ndarray:
        design = np.column_stack([rows, np.ones(len(rows))])
        out = np.empty(len(rows))
        for fold, coefficients in models.items():
            mine = row_folds == fold
            out[mine] = design[mine] @ coefficients
        return out

    return predict


def test_a_strong_input_ranks_first_and_noise_gets_almost_nothing() -> None:
    x, y, folds, groups = _made()
    rises = permutation_rises(x, y, folds, groups, _fitted_per_fold(x, y, folds))
    share = shares(rises)
    assert share.sum() == pytest.approx(1.0)
    assert list(np.argsort(-share)) == [0, 1, 2, 3]  # strong, weak, category, noise
    assert share[3] < 0.01
    # Shuffling an input costs about twice its variance in squared error: 2 * 9 for strong.
    assert rises[0] == pytest.approx(18, rel=0.15) and rises[1] == pytest.approx(2, rel=0.2)


def test_a_category_counts_as_one_column() -> None:
    x, y, folds, groups = _made()
    predict = _fitted_per_fold(x, y, folds)
    together = permutation_rises(x, y, folds, groups, predict)
    # One of its one-hot features alone says less than the category as a whole.
    apart = permutation_rises(x, y, folds, [[2], [3], [4]], predict)
    assert together[2] > apart.max()


def test_shares_count_a_harmful_input_as_none() -> None:
    assert list(shares(np.array([3.0, -1.0, 1.0]))) == [0.75, 0.0, 0.25]
    assert list(shares(np.array([-1.0, 0.0]))) == [0.0, 0.0]  # nothing helped: nothing to share
    assert list(shares(np.array([np.nan, 2.0]))) == [0.0, 1.0]


def test_rows_are_shuffled_only_within_their_fold() -> None:
    folds = np.arange(50) % 3
    order = importance._shuffle_within(folds, np.random.default_rng(0))
    assert sorted(order) == list(range(50))
    assert np.array_equal(folds[order], folds)
    assert not np.array_equal(order, np.arange(50))


def test_it_is_seeded_and_bounded_on_big_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    x, y, folds, groups = _made(n=20_000, seed=1)
    fitted = _fitted_per_fold(x, y, folds)
    seen: list[int] = []

    def predict(rows: np.ndarray, row_folds: np.ndarray) -> np.ndarray:
        seen.append(len(rows))
        return fitted(rows, row_folds)

    first = permutation_rises(x, y, folds, groups, predict, seed=3)
    again = permutation_rises(x, y, folds, groups, fitted, seed=3)
    np.testing.assert_array_equal(first, again)
    # At most MAX_ROWS rows of the table, each group's shuffled copy scored together.
    assert seen[0] == importance.MAX_ROWS
    scored = sum(seen[1:]) / len(groups)
    assert scored == importance.MAX_ROWS * (importance.ROWS_SCORED // importance.MAX_ROWS)
    monkeypatch.setattr(importance, "CHUNK_CELLS", 1)  # one group per call: the same rises
    np.testing.assert_allclose(permutation_rises(x, y, folds, groups, fitted, seed=3), first)


def test_too_few_rows_say_nothing() -> None:
    rises = permutation_rises(np.ones((1, 2)), np.ones(1), np.zeros(1), [[0], [1]], None)  # type: ignore[arg-type]
    assert list(rises) == [0.0, 0.0]
