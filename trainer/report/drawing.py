"""The training report drawn as a PNG: the fit (or predicted vs actual) beside the loss curves.

matplotlib and NumPy only, no Keras: the drawing processes (trainer.report.processes) import
this module alone.
"""

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

from trainer.report.data import Report, report_of

if TYPE_CHECKING:
    from trainer.learn.fit import Fit
    from trainer.model_file.predictor import Prediction
    from trainer.tables.dataset import Dataset

WIDTH_INCHES, HEIGHT_INCHES, DPI = 12, 5, 100
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
    result: Fit,
    predictions: Sequence[Prediction] = (),
    *,
    title: str | None = None,
) -> bytes:
    """A 1200x500 PNG: data with fitted curve and line (or predicted vs actual), and losses."""
    return draw_report_png(report_of(dataset, result, predictions, title=title))


def draw_report_png(report: Report) -> bytes:
    figure = report_figure(report)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def report_figure(report: Report) -> Figure:
    """The report as a matplotlib Figure (no pyplot state): fit panel and loss panel."""
    figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI)
    FigureCanvasAgg(figure)
    fit_axes, loss_axes = figure.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    if report.x is not None:
        _plot_curve(fit_axes, report)
    else:
        _plot_predicted_vs_actual(fit_axes, report)
    _plot_losses(loss_axes, report)
    figure.suptitle(_plain(report.heading), fontsize=13, fontweight="bold")
    figure.text(
        0.5, 0.015, _plain(textwrap.fill(report.verdict, 140)), ha="center", va="bottom", fontsize=9
    )
    # Fixed margins rather than tight_layout, which draws the whole figure once more to
    # measure it: that was about a third of a report's rendering time.
    figure.subplots_adjust(left=0.065, right=0.985, bottom=0.2, top=0.86, wspace=0.2)
    return figure


def _plot_curve(axes: Axes, report: Report) -> None:
    assert report.x is not None and report.grid is not None
    x, y, held_out = report.x, report.y, report.held_out
    rows = np.arange(len(x))
    if held_out.all():
        groups = [(rows, COLORS["data"], f"rows ({report.folds}-fold cross-validated)")]
    else:
        groups = [
            (rows[~held_out], COLORS["data"], "training rows"),
            (rows[held_out], COLORS["held_out"], "held-out rows"),
        ]
    for chosen, color, label in groups:
        if len(chosen):
            axes.scatter(
                x[chosen], y[chosen], s=8, alpha=0.5, color=color, label=label, linewidths=0
            )
    grid = report.grid
    axes.plot(grid, report.grid_predicted, color=COLORS["network"], lw=2, label=report.kind)
    if report.grid_line is not None:
        axes.plot(
            grid, report.grid_line, color=COLORS["line"], lw=1.2, ls="--",
            label="least squares line",
        )  # fmt: skip
    low, high = float(grid[0]), float(grid[-1])
    x_min, x_max = report.x_range
    if low < x_min or high > x_max:
        axes.axvspan(x_min, x_max, color="0.85", alpha=0.4, lw=0, label="training range")
    middle = (low + high) / 2
    for value, predicted in report.marked:
        axes.scatter(
            [value], [predicted], marker="X", s=90, color=COLORS["mark"], zorder=5,
            edgecolors="white",
        )  # fmt: skip
        right_half = value > middle
        axes.annotate(
            f"{predicted:.4g} at {value:g}",
            (value, predicted),
            xytext=(-8 if right_half else 8, -14),
            textcoords="offset points",
            ha="right" if right_half else "left",
            fontsize=9,
            color=COLORS["mark"],
        )
    if report.marked:
        axes.scatter([], [], marker="X", color=COLORS["mark"], label="your predictions")
    axes.set_xlabel(_plain(report.x_name or ""))
    axes.set_ylabel(_plain(report.target_name))
    axes.set_title("Data and fitted curve")
    axes.grid(alpha=0.3)
    axes.legend(loc="best", fontsize=9)


def _plot_predicted_vs_actual(axes: Axes, report: Report) -> None:
    """Held-out rows at the prediction of a model that never learned them; the rest at the
    model's own fit, apart, so memorised rows on the diagonal cannot pass for skill."""
    assert report.fitted is not None
    actual, fitted, held_out = report.y, report.fitted, report.held_out
    values = [actual, fitted]
    if report.held_out_predicted is not None:
        scored = report.held_out_predicted[held_out]
        values.append(scored)
        label = (
            f"held-out rows ({report.folds}-fold cross-validated)"
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
    axes.set_xlabel(_plain(f"actual {report.target_name}"))
    axes.set_ylabel(_plain(f"predicted {report.target_name}"))
    axes.set_title(f"Predicted vs actual ({report.kind})")
    axes.grid(alpha=0.3)
    axes.legend(loc="best", fontsize=9)


def _plot_losses(axes: Axes, report: Report) -> None:
    history = report.history
    epochs = history.get("passes") or list(range(1, len(history.get("loss", [])) + 1))
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
    line_mse = report.line_mse
    if line_mse is not None and history.get("val_loss"):
        axes.axhline(
            line_mse, color=COLORS["line"], ls="--", lw=1.2, label="straight line, held out"
        )
    if report.best_pass:
        axes.axvline(report.best_pass, color=COLORS["mark"], ls=":", lw=1.2,
                     label=f"kept: epoch {report.best_pass}")  # fmt: skip
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
    axes.set_ylabel(_plain(f"mean squared error ({report.target_name} units²)"))
    axes.set_title("Loss")
    axes.grid(alpha=0.3)
