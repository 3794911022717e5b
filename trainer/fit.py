"""Train a network on a Dataset: split, scale, fit with progress and cancel, then measure."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trainer import backend
from trainer.dataset import Dataset
from trainer.limits import Limits
from trainer.metrics import fit_linear, regression_metrics
from trainer.model import build_model, compile_model, inference_function, refit_output_layer
from trainer.params import TrainParams
from trainer.pool import NETWORKS, NetworkKey, NetworkPool
from trainer.recipes import Recipe, Schedule, resolve, schedule

logger = logging.getLogger(__name__)


@dataclass
class Progress:
    """A training progress report; epochs count passes over the training rows."""

    epoch: int
    total_epochs: int
    loss: float
    val_loss: float | None
    eta_seconds: float | None
    elapsed_seconds: float


class Cancelled(Exception):
    """Training stopped because ``on_progress`` returned False."""


@dataclass
class TrainResult:
    """A trained network with what is needed to use it, judge it and show it."""

    model: Any
    scaling: dict[str, Any]
    feature_names: list[str]
    target_name: str
    feature_ranges: list[tuple[float, float]]
    history: dict[str, list[float]]
    metrics: dict[str, dict[str, float | None] | None]
    baseline_metrics: dict[str, dict[str, float | None] | None]
    beats_baseline: bool
    verdict: str
    fit_seconds: float
    epochs_run: int
    backend: str
    device: str
    recipe: dict[str, Any]
    n_train: int = 0
    n_validation: int = 0
    baseline: dict[str, Any] = field(default_factory=dict)

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Predicted targets (original units) for rows of raw ``features``."""
        return predict_scaled(inference_function(self.model), self.scaling, features)

    def summary(self) -> dict[str, Any]:
        """Everything but the model, JSON-ready."""
        return {
            "feature_names": self.feature_names,
            "target_name": self.target_name,
            "feature_ranges": [list(pair) for pair in self.feature_ranges],
            "metrics": self.metrics,
            "baseline_metrics": self.baseline_metrics,
            "baseline": self.baseline,
            "beats_baseline": self.beats_baseline,
            "verdict": self.verdict,
            "fit_seconds": self.fit_seconds,
            "epochs_run": self.epochs_run,
            "n_train": self.n_train,
            "n_validation": self.n_validation,
            "backend": self.backend,
            "device": self.device,
            "recipe": self.recipe,
            "scaling": self.scaling,
        }


def predict_scaled(
    network: Callable[[np.ndarray], np.ndarray], scaling: dict[str, Any], features: np.ndarray
) -> np.ndarray:
    """Run ``network`` on raw features: standardise, predict, undo the target's scaling."""
    raw = np.asarray(features, dtype=np.float64)
    if raw.ndim == 1:
        raw = raw[:, None]
    scaled = (raw - np.asarray(scaling["x_mean"])) / np.asarray(scaling["x_std"])
    predicted = np.asarray(network(scaled), dtype=np.float64).reshape(-1)
    return predicted * scaling["y_std"] + scaling["y_mean"]


def train(
    dataset: Dataset,
    params: TrainParams,
    *,
    limits: Limits = Limits(),  # noqa: B008 - frozen, so one shared default is safe
    on_progress: Callable[[Progress], bool] | None = None,
    progress_interval: float = 2.0,
    pool: NetworkPool = NETWORKS,
) -> TrainResult:
    """Train the recipe chosen by ``params`` on ``dataset``; raise Cancelled if asked to stop.

    The network comes from ``pool``: compiled once per shape and recipe, reused afterwards.
    """
    backend.configure()
    keras = backend.load_keras()
    recipe = resolve(params, limits)

    train_rows, val_rows = split_rows(dataset.n_rows, recipe.validation_split, recipe.seed)
    scaling = fit_scaling(dataset.features[train_rows], dataset.target[train_rows], recipe.scale)
    x_scaled, y_scaled = apply_scaling(scaling, dataset.features, dataset.target)
    plan = schedule(recipe, len(train_rows))
    logger.info(
        "training %s on %d rows (%d validation): %s",
        recipe.name,
        len(train_rows),
        len(val_rows),
        plan,
    )
    n_features = dataset.features.shape[1]
    key = NetworkKey.of(
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

    # fit_seconds covers building and compiling too (when no compiled network is in the pool).
    started = time.perf_counter()
    # A network built under the seed (cheap: nothing compiled) gives the starting weights, so a
    # pooled network starts exactly where a new one would; it ends up holding the result.
    keras.utils.set_random_seed(recipe.seed)
    model = build_model(n_features, recipe)
    with pool.borrow(key, build, model.get_weights()) as network:
        monitor = _Monitor(
            model=network,
            plan=plan,
            y_std=scaling["y_std"],
            x_val=x_scaled[val_rows],
            y_val=y_scaled[val_rows],
            on_progress=on_progress,
            interval=progress_interval,
        )
        callbacks = [
            keras.callbacks.LambdaCallback(
                on_train_begin=monitor.on_train_begin,
                on_train_batch_end=monitor.on_train_batch_end,
                on_epoch_end=monitor.on_epoch_end,
                on_train_end=monitor.on_train_end,
            )
        ]
        if len(val_rows) and recipe.patience is not None:
            # Reads the "val_loss" that the monitor, listed first, writes into the epoch logs.
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor="val_loss",
                    patience=recipe.patience,
                    restore_best_weights=recipe.restore_best_weights,
                    start_from_epoch=int(plan.rounds * recipe.early_stopping_start),
                )
            )
        # Repeating the rows makes one Keras epoch cover several passes: fewer epoch overheads.
        x_fit = np.tile(x_scaled[train_rows], (plan.repeats, 1))
        y_fit = np.tile(y_scaled[train_rows], plan.repeats)
        # Seeded here, after any building, so the shuffling is the same for a fresh network
        # and a pooled one.
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
        if monitor.cancelled:
            raise Cancelled("training was cancelled")
        # The pooled network trains the next table; the result keeps a copy of its own.
        model.set_weights(network.get_weights())
    if recipe.refit_output:
        refit_output_layer(
            model,
            x_scaled[train_rows],
            y_scaled[train_rows],
            x_scaled[val_rows],
            y_scaled[val_rows],
        )
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
        epochs_run=monitor.rounds_done * plan.repeats,
    )


def split_rows(n_rows: int, validation_split: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random (not tail) train/validation rows, so both cover the whole range of x."""
    order = np.random.default_rng(seed).permutation(n_rows)
    n_val = round(n_rows * validation_split) if validation_split > 0 else 0
    n_val = min(n_val, n_rows - 1)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def fit_scaling(features: np.ndarray, target: np.ndarray, scale: bool) -> dict[str, Any]:
    """Means and standard deviations to standardise with (identity when ``scale`` is off)."""
    k = features.shape[1]
    if not scale:
        return {"x_mean": [0.0] * k, "x_std": [1.0] * k, "y_mean": 0.0, "y_std": 1.0}
    x_std = features.std(axis=0)
    y_std = float(target.std())
    return {
        "x_mean": features.mean(axis=0).tolist(),
        # A constant column would divide by zero; leaving it unscaled is harmless.
        "x_std": np.where(x_std > 0, x_std, 1.0).tolist(),
        "y_mean": float(target.mean()),
        "y_std": y_std if y_std > 0 else 1.0,
    }


def apply_scaling(
    scaling: dict[str, Any], features: np.ndarray, target: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Standardised float32 copies of features and target."""
    x = (features - np.asarray(scaling["x_mean"])) / np.asarray(scaling["x_std"])
    y = (target - scaling["y_mean"]) / scaling["y_std"]
    return x.astype(np.float32), y.astype(np.float32)


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
        on_progress: Callable[[Progress], bool] | None,
        interval: float,
    ) -> None:
        self.model = model
        self.plan = plan
        self.loss_scale = y_std**2
        self.x_val = x_val
        self.y_val = y_val
        self.on_progress = on_progress
        self.interval = interval
        self.history: dict[str, list[float]] = {"epoch": [], "loss": [], "val_loss": []}
        self.rounds_done = 0
        self.cancelled = False
        self.started = time.perf_counter()
        self.last_report = self.started
        self.last_loss = math.nan
        self.last_val_loss: float | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.started = self.last_report = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if logs and "loss" in logs:
            self.last_loss = float(logs["loss"]) * self.loss_scale
        steps_done = self.rounds_done * self.plan.steps_per_round + batch + 1
        self._maybe_report(steps_done)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs if logs is not None else {}
        if self.cancelled:
            # Keeps EarlyStopping quiet; training ends at this epoch anyway.
            logs.setdefault("val_loss", math.inf)
            return
        self.rounds_done = epoch + 1
        loss = float(logs.get("loss", self.last_loss))
        self.last_loss = loss * self.loss_scale
        self.history["epoch"].append(float(self.rounds_done * self.plan.repeats))
        self.history["loss"].append(self.last_loss)
        if len(self.x_val):
            predicted = inference_function(self.model)(self.x_val)
            error = predicted.reshape(-1) - self.y_val
            val_loss = float(np.mean(error**2))
            # EarlyStopping, listed after this callback, reads it from the same logs dict.
            logs["val_loss"] = val_loss
            self.last_val_loss = val_loss * self.loss_scale
            self.history["val_loss"].append(self.last_val_loss)
        self._maybe_report(self.rounds_done * self.plan.steps_per_round)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if not self.cancelled:
            self._report(self.rounds_done * self.plan.steps_per_round)

    def _maybe_report(self, steps_done: int) -> None:
        if time.perf_counter() - self.last_report >= self.interval:
            self._report(steps_done)

    def _report(self, steps_done: int) -> None:
        now = time.perf_counter()
        self.last_report = now
        if self.on_progress is None:
            return
        elapsed = now - self.started
        remaining = self.plan.total_steps - steps_done
        eta = elapsed / steps_done * remaining if steps_done > 0 else None
        passes = min(self.plan.passes, steps_done * self.plan.passes // self.plan.total_steps)
        progress = Progress(
            epoch=int(passes),
            total_epochs=self.plan.passes,
            loss=self.last_loss,
            val_loss=self.last_val_loss,
            eta_seconds=eta,
            elapsed_seconds=elapsed,
        )
        if self.on_progress(progress) is False:
            self.cancelled = True
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
    epochs_run: int,
) -> TrainResult:
    predicted = predict_scaled(inference_function(model), scaling, dataset.features)
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
    return TrainResult(
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
        epochs_run=epochs_run,
        backend=backend.backend_name(),
        device=backend.device_description(),
        recipe=recipe.to_dict(),
        n_train=len(train_rows),
        n_validation=len(val_rows),
        baseline={"coefficients": line.coefficients.tolist(), "intercept": line.intercept},
    )


def judge(
    network: dict[str, float | None], line: dict[str, float | None], split: str
) -> tuple[bool, str]:
    """Whether the network beats the least-squares line, and one sentence saying so."""
    net_mse, line_mse = network["mse"] or 0.0, line["mse"] or 0.0
    compared = f"{split} MSE {_number(net_mse)} vs {_number(line_mse)} for the line"
    if net_mse < 0.9 * line_mse:
        times = line_mse / net_mse if net_mse > 0 else math.inf
        factor = f"{times:.1f}" if times < 100 else f"{times:,.0f}"
        return True, f"The network beats a straight line: {factor}x lower error ({compared})."
    if net_mse <= 1.1 * line_mse:
        return (
            net_mse < line_mse,
            f"The network does about as well as a straight line ({compared}), "
            "so the relation looks linear.",
        )
    if (line.get("r2") or 0.0) > 0.99:
        advice = "the data follow a straight line, which a line fits best"
    else:
        advice = "try more epochs or more data"
    return False, f"A straight line does better than the network ({compared}): {advice}."


def _number(value: float) -> str:
    return f"{value:.3g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"
