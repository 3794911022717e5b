"""The default recipe: cross-validated members, and the line whenever the network is no better.

1. Rows are split into ``folds`` folds; member m trains on every fold but m.
2. Each member starts as the ridge line of its own training rows, its MLP adding nothing.
3. All members train together (trainer.learn.members); the round kept is the one whose pooled
   out-of-fold error is lowest.
4. The out-of-fold error of the members is compared with that of the ridge lines on the same
   folds. The chat gets the average of the members only if it is clearly lower; otherwise a
   ridge line fitted on every row. Either way the model is a plain Keras model
   (trainer.model_file.standalone).

The members' MLPs see each real input beside its piecewise-linear encoding
(trainer.learn.encoding) when the recipe says so; their lines see the inputs alone.

So a chat never gets a model that generalises worse than a line, as far as its own rows can
tell, and every figure it is shown comes from rows the model did not learn. The network's
figures are honest about the choice of its round too: on tables up to ``HONEST_ROWS`` rows the
round that predicts a held-out row was chosen on other held-out rows
(trainer.judge.choice.honest_out_of_fold). The line of every figure is the ridge line.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from trainer import backend
from trainer.judge import verdicts
from trainer.judge.choice import (
    LINE,
    NETWORK,
    NOTHING_HELD_OUT,
    Choice,
    honest_out_of_fold,
    network_wins,
)
from trainer.judge.lines import LinearFit, fit_ridge
from trainer.judge.metrics import regression_metrics
from trainer.judge.verdicts import Verdict, judge_cross_validated
from trainer.learn.encoding import PiecewiseLinear, fit_piecewise_linear
from trainer.learn.explain import explain
from trainer.learn.fit import Fit
from trainer.learn.members import MemberTask, fit_members, initial_weights
from trainer.learn.programs import PROGRAMS, ProgramCache
from trainer.learn.recipes import Recipe
from trainer.learn.rounds import MemberPlan, MembersFit, plan_members
from trainer.learn.scaling import apply_scaling, fit_scaling
from trainer.learn.stacked import MemberWeights
from trainer.model_file.standalone import standalone_model
from trainer.progress import Cancelled, Progress, Reporter
from trainer.tables.dataset import Dataset

# Up to this many rows every round's held-out predictions are kept for the honest choice; on
# more, choosing one round of about 40 on the held-out rows themselves flatters it by little.
HONEST_ROWS = 10_000


def fold_of_each_row(n_rows: int, folds: int, seed: int) -> np.ndarray:
    """A random fold number per row, the folds as equal in size as the rows allow."""
    order = np.random.default_rng(seed).permutation(n_rows)
    fold = np.empty(n_rows, dtype=np.int64)
    fold[order] = np.arange(n_rows) % folds
    return fold


def folds_for(recipe: Recipe, n_rows: int) -> int:
    """Members to train: ``val=`` of a quarter means 4 folds; ``val=0`` none held out."""
    if recipe.validation_split <= 0:
        return 0
    wanted = recipe.folds if recipe.validation_split == 0.2 else round(1 / recipe.validation_split)
    return int(np.clip(wanted, 2, min(10, n_rows)))


@dataclass
class Prepared:
    """A table made ready for training: scaled rows, folds, starting members, plan."""

    dataset: Dataset
    recipe: Recipe
    started: float
    folds: int
    fold: np.ndarray
    scaling: dict[str, Any]
    x: np.ndarray  # standardised inputs: what the lines see
    y: np.ndarray
    plan: MemberPlan
    task: MemberTask  # its x: what the members' MLPs see (x and its encoding, if any)
    encoding: PiecewiseLinear | None = None

    def widened(self, x: np.ndarray) -> np.ndarray:
        """Standardised rows as the members take them."""
        return self.encoding.with_inputs(x) if self.encoding is not None else x


def train_cross_validated(
    dataset: Dataset,
    recipe: Recipe,
    *,
    on_progress: Callable[[Progress], bool] | None = None,
    progress_interval: float = 2.0,
    programs: ProgramCache = PROGRAMS,
) -> Fit:
    """Train the stacked recipe on ``dataset``; raise Cancelled if ``on_progress`` says stop."""
    prepared = prepare(dataset, recipe, on_progress, progress_interval)
    (fitted,) = fit_members(
        [prepared.task], recipe, prepared.plan, programs=programs,
        use_early_stopping=recipe.epochs is None,
    )  # fmt: skip
    return finish(prepared, fitted)


def prepare(
    dataset: Dataset,
    recipe: Recipe,
    on_progress: Callable[[Progress], bool] | None,
    progress_interval: float,
) -> Prepared:
    """Scale, split into folds and start every member at its fold's ridge line."""
    started = time.perf_counter()
    n_rows, n_inputs = dataset.n_rows, dataset.features.shape[1]
    folds = folds_for(recipe, n_rows)
    scaling = fit_scaling(dataset.features, dataset.target, recipe.scale)
    x, y = apply_scaling(scaling, dataset.features, dataset.target)
    if folds:
        fold = fold_of_each_row(n_rows, folds, recipe.seed)
        val_mask = (fold[:, None] == np.arange(folds)[None, :]).astype(np.float32)
    else:
        # Nothing held out: as many members, each on every row, differing by their start.
        fold = np.full(n_rows, -1)
        val_mask = np.zeros((n_rows, recipe.folds), np.float32)
    members = val_mask.shape[1]
    train_mask = 1.0 - val_mask
    member_lines = [
        fit_ridge(x[train_mask[:, m] > 0], y[train_mask[:, m] > 0]) for m in range(members)
    ]
    encoding = fit_piecewise_linear(x, recipe.encoding_bins)
    encoding = encoding if recipe.encoding == "piecewise_linear" else None
    x_members = encoding.with_inputs(x) if encoding is not None else x
    width = x_members.shape[1]
    start = initial_weights(width, members, recipe.hidden_layers, recipe.seed)
    # The lines read the inputs alone: their weights on the encoded features stay zero (the
    # linear path is not trained).
    coefficients = np.zeros((members, width, 1), np.float32)
    coefficients[:, :n_inputs, 0] = np.stack([line.coefficients for line in member_lines])
    start.linear = (coefficients, np.array([[line.intercept] for line in member_lines], np.float32))
    plan = plan_members(recipe, n_rows)
    reporter = Reporter(
        on_progress,
        interval=progress_interval,
        total_steps=plan.max_rounds * plan.steps_per_round,
        total_passes=plan.max_passes,
    )
    task = MemberTask(
        x=x_members, y=y, train_mask=train_mask, val_mask=val_mask, start=start,
        reporter=reporter, loss_scale=scaling["y_std"] ** 2, seed=recipe.seed,
        record=bool(folds) and recipe.epochs is None and n_rows <= HONEST_ROWS,
    )  # fmt: skip
    return Prepared(dataset, recipe, started, folds, fold, scaling, x, y, plan, task, encoding)


def finish(prepared: Prepared, fitted: MembersFit) -> Fit:
    """Choose between the members and the line out of fold, and measure what was chosen."""
    if fitted.cancelled:
        raise Cancelled("training was cancelled")
    dataset, folds = prepared.dataset, prepared.folds
    oof = _OutOfFold.of(prepared, fitted)
    recipe = prepared.recipe
    use_network = (
        network_wins(dataset.target, oof.network, oof.ridge, recipe.line_margin, recipe.line_z)
        if folds
        else True
    )
    if use_network:
        kind, held_out, kept = NETWORK, oof.network, fitted.weights
        line = _average_line(fitted.weights, dataset.features.shape[1])
    else:
        # Only the line is kept: fitted on every row, it is what the chat gets.
        ridge = fit_ridge(prepared.x, prepared.y)
        kind, held_out, kept = LINE, oof.ridge, None
        line = (ridge.coefficients, ridge.intercept)
    model = standalone_model(
        kept,
        line,
        prepared.scaling,
        feature_names=dataset.feature_names,
        target_name=dataset.target_name,
        encoding=prepared.encoding if use_network else None,
    )
    fit_seconds = time.perf_counter() - prepared.started
    result = _result(prepared, fitted, model, kind, held_out, fit_seconds)
    _measure(result, dataset, held_out if folds else None, oof.ridge)
    if folds:
        _judge(result, prepared, fitted, oof)
        _explain(result, prepared, fitted.weights if use_network else _lines_only(fitted.weights))
    else:
        result.verdict = Verdict(verdicts.NOTHING_HELD_OUT)
        result.choice = Choice(NOTHING_HELD_OUT)
        result.beats_baseline = True
    return result


@dataclass(frozen=True)
class _OutOfFold:
    """Each row predicted by the member that did not train on it, with and without the
    members' MLPs (original units), and the MSE of both; NaN when nothing was held out.

    The network's predictions are the honest ones where every round's were recorded (the
    round chosen on other held-out rows), else those of the kept round."""

    network: np.ndarray
    ridge: np.ndarray
    network_mse: float
    ridge_mse: float

    @classmethod
    def of(cls, prepared: Prepared, fitted: MembersFit) -> _OutOfFold:
        if not prepared.folds:
            nothing = np.full(prepared.dataset.n_rows, np.nan)
            return cls(nothing, nothing, float("nan"), float("nan"))
        unscale = _unscaler(prepared.scaling)
        x, fold, members = prepared.task.x, prepared.fold, prepared.task.members
        network = unscale(_out_of_fold(fitted.weights, x, fold, members))
        ridge = unscale(_out_of_fold(_lines_only(fitted.weights), x, fold, members))
        recorded = prepared.task.recorded
        if prepared.task.record and len(recorded) > 1:
            # Rounds after the task stopped were trained for batchmates, never its to keep.
            rounds = np.stack(recorded[: 1 + fitted.passes_run // prepared.plan.repeats])
            honest = unscale(honest_out_of_fold(rounds, prepared.y, fold, prepared.recipe.seed))
            network = np.where(np.isfinite(honest), honest, network)
        y_raw = prepared.dataset.target
        return cls(network, ridge, _mse(y_raw, network), _mse(y_raw, ridge))


def _result(
    prepared: Prepared,
    fitted: MembersFit,
    model: Any,
    kind: str,
    held_out: np.ndarray,
    fit_seconds: float,
) -> Fit:
    """The result before it is measured and judged."""
    dataset, folds, n_rows = prepared.dataset, prepared.folds, prepared.dataset.n_rows
    ridge = fit_ridge(dataset.features, dataset.target)
    return Fit(
        model=model,
        scaling={**prepared.scaling, "in_model": True},
        feature_names=list(dataset.feature_names),
        target_name=dataset.target_name,
        feature_ranges=dataset.feature_ranges(),
        history=fitted.history,
        metrics={},
        baseline_metrics={},
        beats_baseline=False,
        verdict=Verdict(""),
        fit_seconds=fit_seconds,
        passes_run=fitted.passes_run,
        backend=backend.backend_name(),
        device=backend.device_description(),
        recipe=prepared.recipe.to_dict(),
        n_train=n_rows,
        n_validation=n_rows if folds else 0,
        baseline={
            "kind": "ridge",
            "coefficients": ridge.coefficients.tolist(),
            "intercept": ridge.intercept,
        },
        model_kind=kind,
        best_pass=fitted.best_pass if folds else None,
        held_out=held_out if folds else None,
    )


def _judge(result: Fit, prepared: Prepared, fitted: MembersFit, oof: _OutOfFold) -> None:
    """The cross-validation figures, the choice and the verdict of a table with folds."""
    folds, fold, y_raw = prepared.folds, prepared.fold, prepared.dataset.target
    final_train = fitted.history["loss"][-1] if fitted.history["loss"] else float("nan")
    final_val = fitted.history["val_loss"][-1] if fitted.history["val_loss"] else float("nan")
    held_out = result.held_out if result.held_out is not None else oof.network
    result.validation = {
        "folds": folds,
        "network_mse": oof.network_mse,
        "line_mse": oof.ridge_mse,
        "final_train_mse": final_train,
        "final_val_mse": final_val,
        "fold_mse": _per_fold(y_raw, held_out, fold, folds),
    }
    line_metrics = result.baseline_metrics["validation"] or {}
    result.verdict = judge_cross_validated(
        kind=result.model_kind,
        network_mse=oof.network_mse,
        line_mse=oof.ridge_mse,
        final_train_mse=final_train,
        final_val_mse=final_val,
        line_r2=line_metrics.get("r2"),
        network_r2=regression_metrics(y_raw, oof.network)["r2"],
        still_improving=fitted.best_pass >= prepared.plan.max_passes,
        n_rows=prepared.dataset.n_rows,
        # The user's columns, as they know them: a category of 5 values is one input, not 5.
        n_inputs=len(prepared.dataset.input_names),
        # With epochs= every round ran: say whether held-out error rose after the kept one.
        held_out_rise=fitted.held_out_rise if prepared.recipe.epochs is not None else None,
        best_pass=fitted.best_pass,
        passes_run=fitted.passes_run,
    )
    result.choice = Choice(
        result.model_kind,
        {"folds": folds, "network_mse": oof.network_mse, "line_mse": oof.ridge_mse},
    )
    result.beats_baseline = result.model_kind == NETWORK


def _explain(result: Fit, prepared: Prepared, chosen: MemberWeights) -> None:
    """How sure and what drives it, from the chosen members (or their lines) out of fold."""
    unscale, members = _unscaler(prepared.scaling), prepared.task.members
    explain(
        result, prepared.dataset, prepared.x, prepared.fold,
        lambda x, fold: unscale(_out_of_fold(chosen, prepared.widened(x), fold, members)),
        prepared.recipe.seed,
    )  # fmt: skip


def _unscaler(scaling: dict[str, float]) -> Callable[[np.ndarray], np.ndarray]:
    return lambda values: np.asarray(values, np.float64) * scaling["y_std"] + scaling["y_mean"]


def _out_of_fold(
    weights: MemberWeights, x: np.ndarray, fold: np.ndarray, members: int
) -> np.ndarray:
    """Each row predicted by the member that did not train on it (scaled units)."""
    predicted = np.empty(len(x))
    for member in range(members):
        rows = np.flatnonzero(fold == member)
        if len(rows):
            predicted[rows] = weights.member(member).predict(x[rows])[:, 0]
    return predicted


def _lines_only(weights: MemberWeights) -> MemberWeights:
    """The members' ridge lines without their MLPs (the same weights, MLP outputs at zero)."""
    lines = weights.copy()
    lines.output = (np.zeros_like(lines.output[0]), np.zeros_like(lines.output[1]))
    return lines


def _average_line(weights: MemberWeights, n_inputs: int) -> tuple[np.ndarray, float]:
    kernel, bias = weights.linear
    return kernel.mean(axis=0)[:n_inputs, 0], float(bias.mean())


def _mse(actual: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean((np.asarray(predicted) - np.asarray(actual)) ** 2))


def _per_fold(
    actual: np.ndarray, predicted: np.ndarray, fold: np.ndarray, folds: int
) -> list[float]:
    return [_mse(actual[fold == f], predicted[fold == f]) for f in range(folds)]


def _measure(
    result: Fit, dataset: Dataset, held_out: np.ndarray | None, line_held_out: np.ndarray
) -> None:
    """Train metrics of the model on every row; validation metrics out of fold. The line's
    figures are the ridge line's, the line the choice compared with: fitted on every row for
    the train figures, and the members' own lines (each fitted without its fold) out of fold."""
    target = dataset.target
    result.metrics["train"] = regression_metrics(target, result.predict(dataset.features))
    line = LinearFit(
        coefficients=np.asarray(result.baseline["coefficients"]),
        intercept=result.baseline["intercept"],
    )
    result.baseline_metrics["train"] = regression_metrics(target, line.predict(dataset.features))
    if held_out is None:
        result.metrics["validation"] = result.baseline_metrics["validation"] = None
        return
    result.metrics["validation"] = regression_metrics(target, held_out)
    result.baseline_metrics["validation"] = regression_metrics(target, line_held_out)
