"""A classifier's floor and figures (issue 20): multinomial logistic regression fitted in NumPy,
the out-of-fold metrics, the rule choosing network or logistic line, and what drives it.

The logistic regression is the classifier's "line": L2-penalised like scikit-learn's default
(C=1: the penalty ½‖W‖²/C beside the summed cross-entropy), minimised by L-BFGS. Two classes
take one weight vector (class 1 against class 0), as scikit-learn does, so both agree.

NumPy only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

EPS = 1e-12


@dataclass(frozen=True)
class Logistic:
    """Logits ``x @ kernel + bias`` (standardised inputs), one column per class."""

    kernel: np.ndarray  # (features, classes)
    bias: np.ndarray  # (classes,)

    def logits(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, np.float64) @ self.kernel + self.bias

    def proba(self, x: np.ndarray) -> np.ndarray:
        return softmax(self.logits(x))


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def fit_logistic(
    x: np.ndarray,
    codes: np.ndarray,
    n_classes: int,
    *,
    c: float = 1.0,
    sample_weight: np.ndarray | None = None,
    max_iter: int = 300,
    tol: float = 1e-7,
) -> Logistic:
    """The L2-penalised multinomial logistic regression of class numbers ``codes`` on ``x``."""
    x = np.asarray(x, np.float64)
    n, d = x.shape
    free = 1 if n_classes == 2 else n_classes
    onehot = np.eye(n_classes)[np.asarray(codes, np.int64)]
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, np.float64)
    xb = np.hstack([x, np.ones((n, 1))])
    scale = 1.0 / n  # the objective per row keeps the steps' sizes alike across tables

    def full(theta: np.ndarray) -> np.ndarray:
        z = xb @ theta.reshape(d + 1, free)
        return np.hstack([np.zeros((n, 1)), z]) if free == 1 else z

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        params = theta.reshape(d + 1, free)
        z = full(theta)
        z = z - z.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(z).sum(axis=1))
        loss = float(np.sum(w * (log_norm - (z * onehot).sum(axis=1))))
        p = np.exp(z - log_norm[:, None])
        residual = (p - onehot) * w[:, None]
        if free == 1:
            residual = residual[:, 1:]
        grad = xb.T @ residual
        penalty = 0.5 * float(np.sum(params[:d] ** 2)) / c
        grad[:d] += params[:d] / c
        return scale * (loss + penalty), scale * grad.reshape(-1)

    theta = _lbfgs(objective, np.zeros((d + 1) * free), max_iter=max_iter, tol=tol)
    params = theta.reshape(d + 1, free)
    kernel, bias = params[:d], params[d]
    if free == 1:
        kernel = np.hstack([np.zeros((d, 1)), kernel])
        bias = np.concatenate([[0.0], bias])
    return Logistic(kernel=kernel, bias=bias)


def _lbfgs(
    objective: Callable[[np.ndarray], tuple[float, np.ndarray]],
    theta: np.ndarray,
    *,
    max_iter: int,
    tol: float,
    memory: int = 10,
) -> np.ndarray:
    """Minimise a smooth convex ``objective`` (value, gradient) by L-BFGS with backtracking."""
    value, grad = objective(theta)
    steps: list[tuple[np.ndarray, np.ndarray, float]] = []
    for _ in range(max_iter):
        if np.max(np.abs(grad)) < tol:
            break
        direction = _two_loop(grad, steps)
        slope = float(grad @ direction)
        if slope >= 0:  # not a descent direction: start the memory again
            steps.clear()
            direction, slope = -grad, -float(grad @ grad)
        candidate, new_value, new_grad = _backtrack(objective, theta, value, direction, slope)
        s, y = candidate - theta, new_grad - grad
        if float(s @ y) > 1e-12:
            steps.append((s, y, 1.0 / float(s @ y)))
            steps = steps[-memory:]
        improved = value - new_value
        theta, value, grad = candidate, new_value, new_grad
        if 0 <= improved < tol * max(1.0, abs(value)) * 1e-3:
            break
    return theta


def _two_loop(grad: np.ndarray, steps: list[tuple[np.ndarray, np.ndarray, float]]) -> np.ndarray:
    """L-BFGS's search direction: minus the gradient times the inverse Hessian that the
    remembered steps describe."""
    direction = -grad
    alphas = []
    for s, y, rho in reversed(steps):
        alpha = rho * float(s @ direction)
        direction = direction - alpha * y
        alphas.append(alpha)
    if steps:
        s, y, _ = steps[-1]
        direction = direction * float(s @ y) / float(y @ y)
    for (s, y, rho), alpha in zip(steps, reversed(alphas), strict=True):
        beta = rho * float(y @ direction)
        direction = direction + s * (alpha - beta)
    return direction


def _backtrack(
    objective: Callable[[np.ndarray], tuple[float, np.ndarray]],
    theta: np.ndarray,
    value: float,
    direction: np.ndarray,
    slope: float,
) -> tuple[np.ndarray, float, np.ndarray]:
    """The first of steps 1, 1/2, 1/4 ... that lowers the objective enough (Armijo)."""
    step = 1.0
    while True:
        candidate = theta + step * direction
        new_value, new_grad = objective(candidate)
        if new_value <= value + 1e-4 * step * slope or step < 1e-10:
            return candidate, new_value, new_grad
        step *= 0.5


# -- figures ---------------------------------------------------------------------------------


def row_log_loss(codes: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Each row's cross-entropy: minus the log of the probability its class got."""
    picked = np.asarray(proba)[np.arange(len(codes)), np.asarray(codes, np.int64)]
    return -np.log(np.clip(picked, EPS, 1.0))


def class_metrics(codes: np.ndarray, proba: np.ndarray) -> dict[str, float | None]:
    """Accuracy, balanced accuracy, log-loss, macro F1 and (two classes) ROC AUC."""
    codes = np.asarray(codes, np.int64)
    proba = np.asarray(proba, np.float64)
    k = proba.shape[1]
    guess = proba.argmax(axis=1)
    matrix = confusion(codes, guess, k)
    support = matrix.sum(axis=1)
    recall = np.divide(np.diag(matrix), support, out=np.zeros(k), where=support > 0)
    predicted = matrix.sum(axis=0)
    precision = np.divide(np.diag(matrix), predicted, out=np.zeros(k), where=predicted > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros(k), where=both > 0)
    present = support > 0
    return {
        "accuracy": float(np.mean(guess == codes)),
        "balanced_accuracy": float(recall[present].mean()),
        "log_loss": float(row_log_loss(codes, proba).mean()),
        "macro_f1": float(f1[present].mean()),
        "roc_auc": roc_auc(codes == 1, proba[:, 1]) if k == 2 else None,
    }


def confusion(codes: np.ndarray, guess: np.ndarray, k: int) -> np.ndarray:
    """Rows: the true class; columns: the class predicted."""
    return np.bincount(np.asarray(codes) * k + np.asarray(guess), minlength=k * k).reshape(k, k)


def roc_auc(positive: np.ndarray, score: np.ndarray) -> float | None:
    """The chance that a positive row scores above a negative one (ties count half)."""
    positive = np.asarray(positive, bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if not n_pos or not n_neg:
        return None
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    sorted_scores = np.asarray(score)[order]
    # Average ranks over ties.
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(average, counts)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def calibration(
    codes: np.ndarray, proba: np.ndarray, bins: int = 10
) -> list[tuple[float, float, int]]:
    """For the most probable class of each row: (mean probability, share right, rows) per bin."""
    confidence = np.asarray(proba).max(axis=1)
    right = np.asarray(proba).argmax(axis=1) == np.asarray(codes)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges) - 1, 0, bins - 1)
    return [
        (
            float(confidence[which == b].mean()),
            float(right[which == b].mean()),
            int((which == b).sum()),
        )
        for b in range(bins)
        if (which == b).any()
    ]


def network_wins(
    codes: np.ndarray, network: np.ndarray, line: np.ndarray, margin: float, z: float = 1.0
) -> bool:
    """The regressor's rule (trainer.judge.choice) on per-row log-loss: the network's held-out
    log-loss must be below the logistic line's by ``margin`` of it and by ``z`` standard errors
    of the mean paired difference. And it must say the right class more often than the line, or
    as often with a gain beyond ``2 z`` standard errors: a network that is surer but no more
    often right is worth its risk only when the gain is plain (on 150 rows of iris a network
    chosen on a smaller one was wrong twice more on new rows)."""
    gain = row_log_loss(codes, line) - row_log_loss(codes, network)
    mean = float(np.mean(gain))
    standard_error = float(np.std(gain, ddof=1) / np.sqrt(len(gain))) if len(gain) > 1 else 0.0
    if mean <= max(margin * float(row_log_loss(codes, line).mean()), z * standard_error):
        return False
    right = np.asarray(codes)
    network_right = float(np.mean(network.argmax(axis=1) == right))
    line_right = float(np.mean(line.argmax(axis=1) == right))
    if network_right != line_right:
        return network_right > line_right
    return mean > 2 * z * standard_error


def importance(
    x: np.ndarray,
    codes: np.ndarray,
    folds: np.ndarray,
    groups: Sequence[Sequence[int]],
    proba: Callable[[np.ndarray, np.ndarray], np.ndarray],
    *,
    seed: int = 0,
    max_rows: int = 1000,
    repeats: int = 3,
) -> np.ndarray:
    """Per group of features, the rise of the held-out log-loss when they are shuffled among
    the rows of each fold (``proba(rows, folds)``: each row by the member that did not learn
    it), made shares summing to 1 (rises below zero count as none)."""
    rng = np.random.default_rng(seed)
    if len(codes) > max_rows:
        some = np.sort(rng.choice(len(codes), max_rows, replace=False))
        x, codes, folds = x[some], codes[some], folds[some]
    base = row_log_loss(codes, proba(x, folds)).mean()
    rises = np.zeros(len(groups))
    for _ in range(repeats):
        order = np.arange(len(codes))
        for fold in np.unique(folds):
            rows = np.flatnonzero(folds == fold)
            order[rows] = rng.permutation(rows)
        for g, columns in enumerate(groups):
            shuffled = x.copy()
            shuffled[:, columns] = x[order][:, columns]
            rises[g] += row_log_loss(codes, proba(shuffled, folds)).mean() - base
    rises = np.maximum(rises / repeats, 0.0)
    total = rises.sum()
    return rises / total if total > 0 else rises
