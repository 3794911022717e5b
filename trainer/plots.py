"""The training report as a PNG: the fit (or predicted vs actual) beside the loss curves."""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

from trainer.dataset import Dataset

if TYPE_CHECKING:
    from trainer.fit import TrainResult
    from trainer.predictor import Prediction

WIDTH_INCHES, HEIGHT_INCHES, DPI = 12, 5, 100
MAX_POINTS = 2000  # more dots add bytes, not information
COLORS = {
    "data": "#4c72b0",
    "held_out": "#8172b3",
    "network": "#dd8452",
    "line": "#55a868",
    "mark": "#c44e52",
}


def _plain(text: str) -> str:
    """`text` drawn as written: matplotlib reads text between two `$` as maths (mathtext), and
    a column named `$y^$` then failed the whole plot. An escaped `\\$` is a plain dollar sign.
    Every string that holds user input (names, titles, the verdict) goes through this."""
    return text.replace("$", r"\$")


def render_report_png(
    dataset: Dataset,
    result: TrainResult,
    predictions: Sequence[Prediction] = (),
    *,
    title: str | None = None,
) -> bytes:
    """A 1200x500 PNG: data with fitted curve and line (or predicted vs actual), and losses."""
    figure = report_figure(dataset, result, predictions, title=title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def report_figure(
    dataset: Dataset,
    result: TrainResult,
    predictions: Sequence[Prediction] = (),
    *,
    title: str | None = None,
) -> Figure:
    """The report as a matplotlib Figure (no pyplot state): fit panel and loss panel."""
    figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI)
    FigureCanvasAgg(figure)
    fit_axes, loss_axes = figure.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    if len(dataset.feature_names) == 1:
        _plot_curve(fit_axes, dataset, result, predictions)
    else:
        _plot_predicted_vs_actual(fit_axes, dataset, result)
    _plot_losses(loss_axes, result)
    heading = title or f"Predicting {dataset.target_name} from {', '.join(dataset.input_names)}"
    figure.suptitle(_plain(heading), fontsize=13, fontweight="bold")
    figure.text(
        0.5, 0.015, _plain(textwrap.fill(result.verdict, 140)), ha="center", va="bottom", fontsize=9
    )
    # Fixed margins rather than tight_layout, which draws the whole figure once more to
    # measure it: that was about a third of a report's rendering time.
    figure.subplots_adjust(left=0.065, right=0.985, bottom=0.2, top=0.86, wspace=0.2)
    return figure


def _sample(n: int, seed: int = 0) -> np.ndarray:
    if n <= MAX_POINTS:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, MAX_POINTS, replace=False))


def _plot_curve(
    axes: Axes, dataset: Dataset, result: TrainResult, predictions: Sequence[Prediction]
) -> None:
    x = dataset.features[:, 0]
    shown = _sample(dataset.n_rows)
    held_out = _held_out_rows(result, dataset.n_rows)[shown]
    if held_out.all():
        groups = [(shown, COLORS["data"], f"rows ({_folds(result)}-fold cross-validated)")]
    else:
        groups = [
            (shown[~held_out], COLORS["data"], "training rows"),
            (shown[held_out], COLORS["held_out"], "held-out rows"),
        ]
    for rows, color, label in groups:
        if len(rows):
            axes.scatter(
                x[rows], dataset.target[rows], s=8, alpha=0.5, color=color, label=label,
                linewidths=0,
            )  # fmt: skip
    marked = [p for p in predictions if len(p.values) == 1]
    low = min([float(x.min())] + [p.value for p in marked])
    high = max([float(x.max())] + [p.value for p in marked])
    grid = np.linspace(low, high, 400)
    axes.plot(
        grid, result.predict(grid[:, None]), color=COLORS["network"], lw=2, label=_kind(result)
    )
    if result.baseline:
        slope = result.baseline["coefficients"][0]
        line = slope * grid + result.baseline["intercept"]
        axes.plot(grid, line, color=COLORS["line"], lw=1.2, ls="--", label="least squares line")
    if low < x.min() or high > x.max():
        axes.axvspan(x.min(), x.max(), color="0.85", alpha=0.4, lw=0, label="training range")
    middle = (low + high) / 2
    for prediction in marked:
        axes.scatter(
            [prediction.value],
            [prediction.predicted],
            marker="X",
            s=90,
            color=COLORS["mark"],
            zorder=5,
            edgecolors="white",
        )
        right_half = prediction.value > middle
        axes.annotate(
            f"{prediction.predicted:.4g} at {prediction.value:g}",
            (prediction.value, prediction.predicted),
            xytext=(-8 if right_half else 8, -14),
            textcoords="offset points",
            ha="right" if right_half else "left",
            fontsize=9,
            color=COLORS["mark"],
        )
    if marked:
        axes.scatter([], [], marker="X", color=COLORS["mark"], label="your predictions")
    axes.set_xlabel(_plain(dataset.feature_names[0]))
    axes.set_ylabel(_plain(dataset.target_name))
    axes.set_title("Data and fitted curve")
    axes.grid(alpha=0.3)
    axes.legend(loc="best", fontsize=9)


def _plot_predicted_vs_actual(axes: Axes, dataset: Dataset, result: TrainResult) -> None:
    """Held-out rows at the prediction of a model that never learned them; the rest at the
    model's own fit, apart, so memorised rows on the diagonal cannot pass for skill."""
    shown = _sample(dataset.n_rows)
    actual = dataset.target[shown]
    fitted = result.predict(dataset.features[shown])
    held_out = _held_out_rows(result, dataset.n_rows)[shown]
    values = [actual, fitted]
    if held_out.any():
        scored = result.held_out[shown][held_out]  # type: ignore[index]
        values.append(scored)
        label = (
            f"held-out rows ({_folds(result)}-fold cross-validated)"
            if held_out.all()
            else "held-out rows"
        )
        if not held_out.all():
            axes.scatter(
                actual[~held_out], fitted[~held_out], s=8, alpha=0.35, color=COLORS["data"],
                linewidths=0, label="training rows",
            )  # fmt: skip
        axes.scatter(
            actual[held_out], scored, s=9, alpha=0.6, color=COLORS["held_out"], linewidths=0,
            label=label,
        )  # fmt: skip
    else:
        axes.scatter(
            actual, fitted, s=8, alpha=0.5, color=COLORS["data"], linewidths=0,
            label="training rows (none held out)",
        )  # fmt: skip
    low = float(min(v.min() for v in values))
    high = float(max(v.max() for v in values))
    axes.plot(
        [low, high], [low, high], color=COLORS["line"], ls="--", lw=1.2, label="perfect prediction"
    )
    axes.set_xlabel(_plain(f"actual {dataset.target_name}"))
    axes.set_ylabel(_plain(f"predicted {dataset.target_name}"))
    axes.set_title(f"Predicted vs actual ({_kind(result)})")
    axes.grid(alpha=0.3)
    axes.legend(loc="best", fontsize=9)


def _held_out_rows(result: TrainResult, n_rows: int) -> np.ndarray:
    if result.held_out is None or len(result.held_out) != n_rows:
        return np.zeros(n_rows, dtype=bool)
    return np.isfinite(result.held_out)


def _folds(result: TrainResult) -> int:
    return int(result.validation.get("folds", 0)) if result.validation else 0


def _kind(result: TrainResult) -> str:
    return "straight line (chosen)" if result.model_kind == "line" else "network"


def _plot_losses(axes: Axes, result: TrainResult) -> None:
    history = result.history
    epochs = history.get("epoch") or list(range(1, len(history.get("loss", [])) + 1))
    marker = "." if len(epochs) <= 50 else None
    if history.get("loss"):
        axes.plot(epochs, history["loss"], color=COLORS["network"], marker=marker, label="training")
    if history.get("val_loss"):
        axes.plot(
            epochs[: len(history["val_loss"])],
            history["val_loss"],
            color=COLORS["data"],
            marker=marker,
            label="held out",
        )
    line_mse = result.validation.get("line_mse") if result.validation else None
    if line_mse is not None and history.get("val_loss"):
        axes.axhline(
            line_mse, color=COLORS["line"], ls="--", lw=1.2, label="straight line, held out"
        )
    if result.best_epoch:
        axes.axvline(result.best_epoch, color=COLORS["mark"], ls=":", lw=1.2,
                     label=f"kept: epoch {result.best_epoch}")  # fmt: skip
    positive = [v for v in history.get("loss", []) + history.get("val_loss", []) if v > 0]
    if positive:
        axes.set_yscale("log")
        # Minor ticks of a log axis took about a third of the whole PNG's rendering time: the
        # major ticks at 1, 2 and 5 of each decade read as well, and a short span still has some.
        subs = (1.0,) if max(positive) >= 100 * min(positive) else (1.0, 2.0, 5.0)
        axes.yaxis.set_major_locator(LogLocator(subs=subs))
        axes.yaxis.set_minor_locator(NullLocator())
        # Plain numbers (0.5, 2, 100): the default 10^k labels go through mathtext, which
        # took a fifth of the PNG's rendering time, and read no better.
        axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axes.legend(loc="best", fontsize=9)
    else:
        axes.text(0.5, 0.5, "no loss history", ha="center", va="center", transform=axes.transAxes)
    axes.set_xlabel("epoch")
    axes.set_ylabel(_plain(f"mean squared error ({result.target_name} units²)"))
    axes.set_title("Loss")
    axes.grid(alpha=0.3)
