"""The tutorial's path: one network, trained as the article does (and as recipes with engine
"single" ask): split, scale, fit with progress and cancel, then measure against a
least-squares line.

The default recipe's cross-validated members live in trainer.learn.crossval;
trainer.learn.training chooses between the two.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from trainer import backend
from trainer.judge.lines import fit_linear
from trainer.judge.metrics import regression_metrics
from trainer.judge.verdicts import judge
from trainer.learn.explain import explain
from trainer.learn.fit import Fit
from trainer.learn.network import build_model, compile_model
from trainer.learn.programs import ProgramCache, ProgramKey
from trainer.learn.recipes import Recipe, Schedule, schedule
from trainer.learn.scaling import apply_scaling, fit_scaling
from trainer.model_file.inference import inference_function, predict_scaled
from trainer.progress import Cancelled, Progress, Reporter
from trainer.tables.dataset import Dataset

logger = logging.getLogger(__name__)


def train_single(
    dataset: Dataset,
    recipe: Recipe,
    on_progress: Callable[[Progress], bool] | None,
    progress_interval: float,
    programs: ProgramCache,
) -> Fit:
    """One network on ``dataset``; raise Cancelled if ``on_progress`` says stop."""
    keras = backend.load_keras()
    train_rows, val_rows = split_rows(dataset.n_rows, recipe.validation_split, recipe.seed)
    scaling = fit_scaling(dataset.features[train_rows], dataset.target[train_rows], recipe.scale)
    x_scaled, y_scaled = apply_scaling(scaling, dataset.features, dataset.target)
    plan = schedule(recipe, len(train_rows), dataset.features.shape[1])
    logger.info(
        "training %s on %d rows (%d validation): %s",
        recipe.name,
        len(train_rows),
        len(val_rows),
        plan,
    )
    n_features = dataset.features.shape[1]
    key, build = _program(n_features, recipe, plan)
    # fit_seconds covers building and compiling too (when the cache holds no compiled program).
    started = time.perf_counter()
    # A network built under the seed (cheap: nothing compiled) gives the starting weights, so a
    # cached program starts exactly where a new one would; it ends up holding the result.
    keras.utils.set_random_seed(recipe.seed)
    model = build_model(n_features, recipe)
    with programs.borrow(key, build, model.get_weights()) as network:
        monitor = _Monitor(
            model=network,
            plan=plan,
            y_std=scaling["y_std"],
            x_val=x_scaled[val_rows],
            y_val=y_scaled[val_rows],
            reporter=Reporter(
                on_progress,
                interval=progress_interval,
                total_steps=plan.total_steps,
                total_passes=plan.passes,
            ),
        )
        _fit(network, monitor, recipe, x_scaled[train_rows], y_scaled[train_rows])
        if monitor.cancelled:
            raise Cancelled("training was cancelled")
        # The cached program trains the next table; the result keeps a copy of its own.
        model.set_weights(network.get_weights())
    fit_seconds = time.perf_counter() - started

    return _evaluate(
        dataset=dataset,
        model=model,
        scaling=scaling,
        recipe=recipe,
        train_rows=train_rows,
        val_rows=val_rows,
        history=monitor.history,
        fit_seconds=fit_seconds,
        passes_run=monitor.rounds_done * plan.repeats,
    )


def _program(
    n_features: int, recipe: Recipe, plan: Schedule
) -> tuple[ProgramKey, Callable[[], Any]]:
    """The key of the compiled program this network trains with, and how to build one."""
    key = ProgramKey.of(
        n_features,
        recipe,
        total_steps=plan.total_steps,
        steps_per_execution=plan.steps_per_execution,
    )

    def build() -> Any:
        network = build_model(n_features, recipe)
        compile_model(
            network,
            recipe,
            total_steps=plan.total_steps,
            steps_per_execution=plan.steps_per_execution,
        )
        return network

    return key, build


def _fit(network: Any, monitor: _Monitor, recipe: Recipe, x: np.ndarray, y: np.ndarray) -> None:
    """Keras' fit of the training rows, one Keras epoch a round, watched by ``monitor``."""
    keras = backend.load_keras()
    plan = monitor.plan
    callbacks = [
        keras.callbacks.LambdaCallback(
            on_train_begin=monitor.on_train_begin,
            on_train_batch_end=monitor.on_train_batch_end,
            on_epoch_end=monitor.on_epoch_end,
            on_train_end=monitor.on_train_end,
        )
    ]
    # Repeating the rows makes one Keras epoch cover several passes: fewer epoch overheads.
    x_fit = np.tile(x, (plan.repeats, 1))
    y_fit = np.tile(y, plan.repeats)
    # Seeded here, after any building, so the shuffling is the same for a fresh network
    # and a cached one.
    keras.utils.set_random_seed(recipe.seed)
    network.fit(
        x_fit,
        y_fit,
        batch_size=plan.batch_size,
        epochs=plan.rounds,
        shuffle=True,
        verbose=0,
        callbacks=callbacks,
    )


def split_rows(n_rows: int, validation_split: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random (not tail) train/validation rows, so both cover the whole range of x."""
    order = np.random.default_rng(seed).permutation(n_rows)
    n_val = round(n_rows * validation_split) if validation_split > 0 else 0
    n_val = min(n_val, n_rows - 1)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


class _Monitor:
    """Validation loss, history, progress reports and cancelling, as Keras callback hooks."""

    def __init__(
        self,
        *,
        model: Any,
        plan: Schedule,
        y_std: float,
        x_val: np.ndarray,
        y_val: np.ndarray,
        reporter: Reporter,
    ) -> None:
        self.model = model
        self.plan = plan
        self.loss_scale = y_std**2
        self.x_val = x_val
        self.y_val = y_val
        self.reporter = reporter
        self.history: dict[str, list[float]] = {"passes": [], "loss": [], "val_loss": []}
        self.rounds_done = 0
        self.last_loss = math.nan
        self.last_val_loss: float | None = None

    @property
    def cancelled(self) -> bool:
        return self.reporter.cancelled

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.reporter.start()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if logs and "loss" in logs:
            self.last_loss = float(logs["loss"]) * self.loss_scale
        steps_done = self.rounds_done * self.plan.steps_per_round + batch + 1
        self._maybe_report(steps_done)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs if logs is not None else {}
        if self.cancelled:
            return
        self.rounds_done = epoch + 1
        loss = float(logs.get("loss", self.last_loss))
        self.last_loss = loss * self.loss_scale
        self.history["passes"].append(float(self.rounds_done * self.plan.repeats))
        self.history["loss"].append(self.last_loss)
        if len(self.x_val):
            predicted = inference_function(self.model)(self.x_val)
            error = predicted.reshape(-1) - self.y_val
            val_loss = float(np.mean(error**2))
            self.last_val_loss = val_loss * self.loss_scale
            self.history["val_loss"].append(self.last_val_loss)
        self._maybe_report(self.rounds_done * self.plan.steps_per_round)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if not self.cancelled:
            self.reporter.report(
                self.rounds_done * self.plan.steps_per_round, self.last_loss, self.last_val_loss
            )

    def _maybe_report(self, steps_done: int) -> None:
        self.reporter.maybe_report(steps_done, self.last_loss, self.last_val_loss)
        if self.cancelled:
            self.model.stop_training = True


def _evaluate(
    *,
    dataset: Dataset,
    model: Any,
    scaling: dict[str, Any],
    recipe: Recipe,
    train_rows: np.ndarray,
    val_rows: np.ndarray,
    history: dict[str, list[float]],
    fit_seconds: float,
    passes_run: int,
) -> Fit:
    network = inference_function(model)
    predicted = predict_scaled(network, scaling, dataset.features)
    line = fit_linear(dataset.features[train_rows], dataset.target[train_rows])
    line_predicted = line.predict(dataset.features)
    metrics: dict[str, dict[str, float | None] | None] = {}
    baseline_metrics: dict[str, dict[str, float | None] | None] = {}
    for split, rows in (("train", train_rows), ("validation", val_rows)):
        if len(rows) == 0:
            metrics[split] = baseline_metrics[split] = None
            continue
        metrics[split] = regression_metrics(dataset.target[rows], predicted[rows])
        baseline_metrics[split] = regression_metrics(dataset.target[rows], line_predicted[rows])
    judged = "validation" if metrics["validation"] else "train"
    network_metrics, line_metrics = metrics[judged], baseline_metrics[judged]
    assert network_metrics is not None and line_metrics is not None  # train rows always exist
    beats, verdict = judge(network_metrics, line_metrics, judged)
    result = Fit(
        model=model,
        scaling=scaling,
        feature_names=list(dataset.feature_names),
        target_name=dataset.target_name,
        feature_ranges=dataset.feature_ranges(),
        history=history,
        metrics=metrics,
        baseline_metrics=baseline_metrics,
        beats_baseline=beats,
        verdict=verdict,
        fit_seconds=fit_seconds,
        passes_run=passes_run,
        backend=backend.backend_name(),
        device=backend.device_description(),
        recipe=recipe.to_dict(),
        n_train=len(train_rows),
        n_validation=len(val_rows),
        baseline={"coefficients": line.coefficients.tolist(), "intercept": line.intercept},
        held_out=np.where(np.isin(np.arange(dataset.n_rows), val_rows), predicted, np.nan),
    )
    # How sure and what drives it, from the held-out share (nothing when none was held out).
    folds = np.where(np.isin(np.arange(dataset.n_rows), val_rows), 0, -1)
    explain(
        result, dataset, dataset.features, folds,
        lambda rows, _: predict_scaled(network, scaling, rows), recipe.seed,
    )  # fmt: skip
    return result
