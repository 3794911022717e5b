"""The default recipe for a class target (issue 20): cross-validated members with a softmax
head, and the logistic line whenever the network is no better.

As for numbers (trainer.learn.crossval): rows are split into folds (stratified: each class
spread evenly); member m trains on every fold but m; each member starts as the logistic
regression of its own training rows (trainer.judge.classes), its MLP adding nothing; all
members train together as one Keras program (the stacked layers of trainer.learn.stacked)
with cross-entropy, and the round kept is the one whose pooled out-of-fold log-loss is lowest.
The chat gets the members' average only if their out-of-fold log-loss is clearly below the
logistic regressions' on the same folds; otherwise a logistic regression of every row.

Rare classes weigh more in training (the square root of the balanced weights), and each
member's logits are then shifted by minus the log of its class's weight, which undoes the
weighting's effect on the probabilities: they stay honest and the log-loss comparable.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from trainer import backend
from trainer.judge import classes as judge
from trainer.judge.choice import LINE, NETWORK, NOTHING_HELD_OUT, Choice
from trainer.judge.verdicts import Verdict
from trainer.learn.fit import Fit
from trainer.learn.members import initial_weights
from trainer.learn.network import make_optimizer
from trainer.learn.recipes import Recipe
from trainer.learn.rounds import plan_members
from trainer.learn.stacked import StackedDense, keras
from trainer.model_file.classes import CLASSIFICATION, classifier_model
from trainer.progress import Cancelled, Progress, Reporter
from trainer.tables.dataset import Dataset

ops = keras.ops
# Weights of rare classes: the balanced weight's square root, used once the classes' weights
# differ by more than this (about 2.25 to 1 in rows).
WEIGHT_SPREAD = 1.5
VAL_SAMPLE_ROWS = 20_000


def stratified_folds(codes: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """A fold per row, each class dealt round the folds in a random order."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(codes), np.int64)
    offset = 0
    for code in np.unique(codes):
        rows = rng.permutation(np.flatnonzero(codes == code))
        fold[rows] = (np.arange(len(rows)) + offset) % folds
        offset += len(rows)
    return fold


def class_weights(codes: np.ndarray, n_classes: int) -> np.ndarray:
    """Per class, its weight in training: 1 for every class when they are about even."""
    counts = np.bincount(codes, minlength=n_classes).astype(np.float64)
    balanced = np.sqrt(len(codes) / (n_classes * np.maximum(counts, 1)))
    if balanced.max() / balanced.min() <= WEIGHT_SPREAD:
        return np.ones(n_classes)
    return balanced / float(np.mean(balanced[codes]))


@dataclass
class _Members:
    """The members' weights: a fixed line, hidden layers and output, member axis first."""

    linear: tuple[np.ndarray, np.ndarray]  # (M, d, K), (M, K)
    hidden: list[tuple[np.ndarray, np.ndarray]]
    output: tuple[np.ndarray, np.ndarray]  # (M, u, K), (M, K)

    def logits(self, x: np.ndarray, *, residual: bool = True) -> np.ndarray:
        """(M, rows, K) logits of every member for rows shared by all."""
        x = np.asarray(x, np.float64)
        out = np.einsum("bi,mik->mbk", x, self.linear[0]) + self.linear[1][:, None]
        if not residual:
            return out
        hidden = np.broadcast_to(x, (self.output[0].shape[0], *x.shape))
        for kernel, bias in self.hidden:
            hidden = np.maximum(np.einsum("mbi,miu->mbu", hidden, kernel) + bias[:, None], 0.0)
        return out + np.einsum("mbu,muk->mbk", hidden, self.output[0]) + self.output[1][:, None]

    @classmethod
    def of(cls, network: Any) -> _Members:
        def weights(name: str) -> tuple[np.ndarray, np.ndarray]:
            kernel, bias = network.get_layer(name).get_weights()
            return np.array(kernel), np.array(bias)

        hidden, number = [], 1
        while any(layer.name == f"hidden_{number}" for layer in network.layers):
            hidden.append(weights(f"hidden_{number}"))
            number += 1
        return cls(weights("linear"), hidden, weights("prediction"))


def _out_of_fold(
    members: _Members, x: np.ndarray, fold: np.ndarray, shift: np.ndarray, residual: bool = True
) -> np.ndarray:
    """Each row's probabilities from the member that did not learn it."""
    proba = np.empty((len(x), members.linear[1].shape[1]))
    for member in range(members.linear[0].shape[0]):
        rows = np.flatnonzero(fold == member)
        if len(rows):
            single = _Members(
                (members.linear[0][member : member + 1], members.linear[1][member : member + 1]),
                [(k[member : member + 1], b[member : member + 1]) for k, b in members.hidden],
                (members.output[0][member : member + 1], members.output[1][member : member + 1]),
            )
            proba[rows] = judge.softmax(single.logits(x[rows], residual=residual)[0] - shift)
    return proba


def _build(n_features: int, members: int, n_classes: int, hidden_layers: tuple[int, ...]) -> Any:
    inputs = keras.Input(shape=(n_features,), name="features")
    linear = StackedDense(members, n_classes, name="linear", trainable=False)(inputs)
    hidden = inputs
    for number, units in enumerate(hidden_layers, start=1):
        hidden = StackedDense(members, units, "relu", name=f"hidden_{number}")(hidden)
    residual = StackedDense(members, n_classes, zero_init=True, name="prediction")(hidden)
    logits = ops.transpose(linear + residual, (1, 0, 2))  # (batch, members, classes)
    return keras.Model(inputs, logits, name=f"classes_{members}")


def masked_cross_entropy(y_true: Any, y_pred: Any) -> Any:
    """Cross-entropy of each member on its own rows: ``y_true`` (batch, members, classes) is the
    one-hot class times the row's class weight, zero where the member does not learn the row."""
    log_p = y_pred - ops.logsumexp(y_pred, axis=-1, keepdims=True)
    return -ops.sum(y_true * log_p, axis=(1, 2)) / ops.cast(ops.shape(y_pred)[1], y_pred.dtype)


def _folds(recipe: Recipe, codes: np.ndarray) -> int:
    if recipe.validation_split <= 0:
        return 0
    wanted = recipe.folds if recipe.validation_split == 0.2 else round(1 / recipe.validation_split)
    smallest = int(np.bincount(codes).min())
    return int(np.clip(wanted, 2, max(2, min(10, smallest))))


def train_classifier(
    dataset: Dataset,
    recipe: Recipe,
    *,
    on_progress: Callable[[Progress], bool] | None = None,
    progress_interval: float = 2.0,
) -> Fit:
    """Train the classifier on ``dataset`` (a class target); raise Cancelled if asked to stop."""
    started = time.perf_counter()
    classes = list(dataset.classes or [])
    codes = dataset.target.astype(np.int64)
    n_rows, n_features, k = len(codes), dataset.features.shape[1], len(classes)
    x_mean = dataset.features.mean(axis=0)
    x_std = dataset.features.std(axis=0)
    x_std = np.where(x_std > 0, x_std, 1.0)
    x = (dataset.features - x_mean) / x_std
    folds = _folds(recipe, codes)
    weights = class_weights(codes, k)
    shift = np.log(weights)
    if folds:
        fold = stratified_folds(codes, folds, recipe.seed)
        learns = fold[:, None] != np.arange(folds)[None, :]
    else:
        fold = np.full(n_rows, -1)
        learns = np.ones((n_rows, recipe.folds), bool)
    members = learns.shape[1]
    lines = [judge.fit_logistic(x[learns[:, m]], codes[learns[:, m]], k) for m in range(members)]
    start = initial_weights(n_features, members, recipe.hidden_layers, recipe.seed)
    state = _Members(
        (np.stack([line.kernel for line in lines]), np.stack([line.bias for line in lines])),
        list(start.hidden),
        (np.zeros((members, start.output[0].shape[1], k)), np.zeros((members, k))),
    )
    best, history, best_pass, passes = _fit(
        x, codes, fold, learns, weights, shift, state, recipe, on_progress, progress_interval
    )
    result = _result(dataset, recipe, best, x, x_mean, x_std, fold, folds, shift, lines)
    result.history, result.best_pass, result.passes_run = history, best_pass, passes
    result.fit_seconds = time.perf_counter() - started
    result.imbalance = _imbalance(codes, classes, weights)
    return result


def _fit(
    x: np.ndarray,
    codes: np.ndarray,
    fold: np.ndarray,
    learns: np.ndarray,
    weights: np.ndarray,
    shift: np.ndarray,
    state: _Members,
    recipe: Recipe,
    on_progress: Callable[[Progress], bool] | None,
    progress_interval: float,
) -> tuple[_Members, dict[str, list[float]], int, int]:
    """Train the members round by round; the best round's weights (by pooled out-of-fold
    log-loss; the last round's with nothing held out), the curves and the passes."""
    backend.configure()
    n_rows, members, k = len(codes), learns.shape[1], len(weights)
    plan = plan_members(recipe, n_rows)
    network = _build(x.shape[1], members, k, recipe.hidden_layers)
    network.compile(
        optimizer=make_optimizer(recipe, None),
        loss=masked_cross_entropy,
        steps_per_execution=plan.steps_per_execution,
        jit_compile=backend.backend_name() == "jax",
    )
    network.get_layer("linear").set_weights([a.astype(np.float32) for a in state.linear])
    for number, (kernel, bias) in enumerate(state.hidden, start=1):
        network.get_layer(f"hidden_{number}").set_weights([kernel, bias])
    network.get_layer("prediction").set_weights([a.astype(np.float32) for a in state.output])
    padded = plan.padded_rows
    x_fit = np.zeros((padded, x.shape[1]), np.float32)
    x_fit[:n_rows] = x
    y_fit = np.zeros((padded, members, k), np.float32)
    y_fit[:n_rows] = (np.eye(k)[codes] * weights[codes][:, None])[:, None, :] * learns[..., None]
    reporter = Reporter(
        on_progress, interval=progress_interval,
        total_steps=plan.max_rounds * plan.steps_per_round, total_passes=plan.max_passes,
    )  # fmt: skip
    rng = np.random.default_rng(recipe.seed)
    held = np.flatnonzero(fold >= 0)
    if len(held) > VAL_SAMPLE_ROWS:
        held = np.sort(rng.choice(held, VAL_SAMPLE_ROWS, replace=False))
    some = np.sort(rng.choice(n_rows, min(n_rows, 2048), replace=False))
    history: dict[str, list[float]] = {"passes": [], "loss": [], "val_loss": []}
    best, best_val, best_round = state, math.inf, 0
    keras.utils.set_random_seed(recipe.seed)
    for round_ in range(plan.max_rounds):
        rate = _rate(recipe, plan.max_rounds, round_)
        network.optimizer.learning_rate.assign(rate)
        network.fit(x_fit, y_fit, batch_size=plan.batch_size, epochs=plan.repeats,
                    shuffle=True, verbose=0)  # fmt: skip
        now = _Members.of(network)
        logits = now.logits(x[some]) - shift
        own = learns[some]
        member_loss = [
            judge.row_log_loss(codes[some][own[:, m]], judge.softmax(logits[m][own[:, m]]))
            for m in range(members)
        ]
        loss = float(np.mean(np.concatenate(member_loss)))
        val = None
        if len(held):
            oof = _out_of_fold(now, x[held], fold[held], shift)
            val = float(judge.row_log_loss(codes[held], oof).mean())
        passes = (round_ + 1) * plan.repeats
        history["passes"].append(passes)
        history["loss"].append(loss)
        history["val_loss"].append(val if val is not None else math.nan)
        reporter.maybe_report((round_ + 1) * plan.steps_per_round, loss, val)
        if reporter.cancelled:
            raise Cancelled("training was cancelled")
        if val is None or val < best_val - 1e-6:
            best, best_val, best_round = now, (val if val is not None else math.inf), round_
        elif round_ - best_round >= plan.patience and recipe.epochs is None:
            break
    rounds_done = len(history["passes"])
    last_val = history["val_loss"][-1]
    reporter.report(
        rounds_done * plan.steps_per_round, history["loss"][-1],
        None if math.isnan(last_val) else last_val,
    )  # fmt: skip
    if reporter.cancelled:
        raise Cancelled("training was cancelled")
    return best, history, (best_round + 1) * plan.repeats, history["passes"][-1]


def _rate(recipe: Recipe, rounds: int, round_: int) -> float:
    """Cosine from the recipe's rate down to a tenth of it over the planned rounds."""
    if recipe.lr_decay != "cosine" or rounds <= 1:
        return recipe.learning_rate
    progress = min(1.0, round_ / (rounds - 1))
    return recipe.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def _result(
    dataset: Dataset,
    recipe: Recipe,
    members: _Members,
    x: np.ndarray,
    x_mean: np.ndarray,
    x_std: np.ndarray,
    fold: np.ndarray,
    folds: int,
    shift: np.ndarray,
    lines: list[judge.Logistic],
) -> Fit:
    """Choose network or logistic line out of fold, make the model and measure both."""
    classes, codes = list(dataset.classes or []), dataset.target.astype(np.int64)
    whole = judge.fit_logistic(x, codes, len(classes))
    network_oof = line_oof = None
    use_network = True
    numbers: dict[str, Any] = {}
    if folds:
        network_oof = _out_of_fold(members, x, fold, shift)
        line_oof = _out_of_fold(members, x, fold, np.zeros_like(shift), residual=False)
        use_network = judge.network_wins(codes, network_oof, line_oof, recipe.line_margin)
        numbers = {
            "folds": folds,
            "network_log_loss": float(judge.row_log_loss(codes, network_oof).mean()),
            "line_log_loss": float(judge.row_log_loss(codes, line_oof).mean()),
        }
    if use_network:
        line = (members.linear[0].mean(axis=0), members.linear[1].mean(axis=0) - shift)
        model = classifier_model(
            (members.hidden, members.output), line, x_mean, x_std, target_name=dataset.target_name
        )
    else:
        model = classifier_model(
            None, (whole.kernel, whole.bias), x_mean, x_std, target_name=dataset.target_name
        )
    kind = NETWORK if use_network else LINE
    held_out = network_oof if use_network else line_oof
    result = Fit(
        model=model,
        scaling={
            "x_mean": x_mean.tolist(), "x_std": x_std.tolist(), "y_mean": 0.0, "y_std": 1.0,
            "in_model": True, "task": CLASSIFICATION, "classes": classes,
        },
        feature_names=list(dataset.feature_names),
        target_name=dataset.target_name,
        feature_ranges=dataset.feature_ranges(),
        history={}, metrics={}, baseline_metrics={}, beats_baseline=use_network,
        verdict=Verdict(""), fit_seconds=0.0, passes_run=0,
        backend=backend.backend_name(), device=backend.device_description(),
        recipe=recipe.to_dict(), n_train=len(codes), n_validation=len(codes) if folds else 0,
        baseline={"kernel": whole.kernel.tolist(), "bias": whole.bias.tolist()},
        model_kind=kind,
        choice=Choice(kind, numbers) if folds else Choice(NOTHING_HELD_OUT),
        validation=numbers,
        task=CLASSIFICATION,
        classes=classes,
        held_out_proba=held_out,
    )  # fmt: skip
    result.metrics["train"] = judge.class_metrics(codes, result.predict_proba(dataset.features))
    result.baseline_metrics["train"] = judge.class_metrics(codes, whole.proba(x))
    result.metrics["validation"] = (
        judge.class_metrics(codes, held_out) if held_out is not None else None
    )
    result.baseline_metrics["validation"] = (
        judge.class_metrics(codes, line_oof) if line_oof is not None else None
    )
    if folds:
        # The line alone is the members' fixed linear paths, unshifted (fitted unweighted).
        residual, chosen_shift = use_network, shift if use_network else np.zeros_like(shift)
        groups, start = [], 0
        for names in dataset.column_plan.feature_groups():
            groups.append(list(range(start, start + len(names))))
            start += len(names)
        shares = judge.importance(
            x, codes, fold, groups,
            lambda rows, f: _out_of_fold(members, rows, f, chosen_shift, residual=residual),
            seed=recipe.seed,
        )  # fmt: skip
        ranked = sorted(
            zip(dataset.column_plan.input_names, shares, strict=True), key=lambda p: -p[1]
        )
        result.importance = {name: float(share) for name, share in ranked}
    return result


def _imbalance(codes: np.ndarray, classes: list[str], weights: np.ndarray) -> dict[str, Any]:
    counts = np.bincount(codes, minlength=len(classes))
    rarest = int(np.argmin(counts))
    return {
        "weighted": bool(np.ptp(weights) > 0),
        "rarest": classes[rarest],
        "rarest_share": float(counts[rarest] / len(codes)),
        "counts": {label: int(c) for label, c in zip(classes, counts, strict=True)},
        "weights": {label: float(w) for label, w in zip(classes, weights, strict=True)},
    }
