"""The training report drawn as a PNG: the fit (or predicted vs actual) with its prediction
interval, beside the loss curves and, for several inputs, what drives the model.

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

from trainer.report.classes import ClassReport, class_report_of, draw_class_png
from trainer.report.data import Report, report_of

if TYPE_CHECKING:
    from trainer.learn.fit import Fit
    from trainer.model_file.predictor import Prediction
    from trainer.tables.dataset import Dataset

WIDTH_INCHES, HEIGHT_INCHES, DPI = 12, 5.6, 100
COLORS = {
    "data": "#4c72b0",
    "held_out": "#8172b3",
    "network": "#dd8452",
    "line": "#55a868",
    "mark": "#c44e52",
    "band": "#dd8452",
    "bars": "#64b5cd",
}
FADED = 0.3  # curves after the kept pass, and those of a network that was not chosen


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
    """A 1200x560 PNG: data with fitted curve, interval and line (or predicted vs actual),
    losses and, for several inputs, their importance; a classifier's report for classes."""
    if result.task == "classification":  # issue 20
        return draw_class_png(class_report_of(dataset, result, title=title))
    return draw_report_png(report_of(dataset, result, predictions, title=title))


def draw_report_png(report: Report | ClassReport) -> bytes:
    if isinstance(report, ClassReport):  # issue 20: a classifier's report
        return draw_class_png(report)
    figure = report_figure(report)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def report_figure(report: Report) -> Figure:
    """The report as a matplotlib Figure (no pyplot state): the fit panel on the left; the loss
    panel on the right, above the importance panel when there is one."""
    figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI)
    FigureCanvasAgg(figure)
    rows = 2 if report.importance else 1
    grid = figure.add_gridspec(
        rows, 2, width_ratios=[3, 2], height_ratios=[3, 2][:rows], hspace=0.55
    )
    fit_axes = figure.add_subplot(grid[:, 0])
    if report.x is not None:
        _plot_curve(fit_axes, report)
    else:
        _plot_predicted_vs_actual(fit_axes, report)
    _plot_losses(figure.add_subplot(grid[0, 1]), report)
    if report.importance:
        _plot_importance(figure.add_subplot(grid[1, 1]), report)
    figure.suptitle(_plain(report.heading), fontsize=13, fontweight="bold")
    figure.text(
        0.5, 0.015, _plain(textwrap.fill(report.verdict, 140)), ha="center", va="bottom", fontsize=9
    )
    # Fixed margins rather than tight_layout, which draws the whole figure once more to
    # measure it: that was about a third of a report's rendering time.
    figure.subplots_adjust(left=0.065, right=0.985, bottom=0.18, top=0.87, wspace=0.2)
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
    if report.grid_low is not None and report.grid_high is not None:
        axes.fill_between(
            grid, report.grid_low, report.grid_high, color=COLORS["band"], alpha=0.2, lw=0,
            label=_interval_label(report),
        )  # fmt: skip
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
    ranges = report.marked_ranges or [None] * len(report.marked)
    for (value, predicted), bounds in zip(report.marked, ranges, strict=True):
        axes.scatter(
            [value], [predicted], marker="X", s=90, color=COLORS["mark"], zorder=5,
            edgecolors="white",
        )  # fmt: skip
        label = f"{predicted:.4g} at {value:g}"
        if bounds is not None:
            axes.errorbar(
                [value], [predicted], yerr=[[predicted - bounds[0]], [bounds[1] - predicted]],
                fmt="none", ecolor=COLORS["mark"], capsize=4, lw=1.2, zorder=4,
            )  # fmt: skip
            label = f"{predicted:.4g} ± {(bounds[1] - bounds[0]) / 2:.2g} at {value:g}"
        right_half = value > middle
        axes.annotate(
            label,
            (value, predicted),
            xytext=(-10 if right_half else 10, 0),
            textcoords="offset points",
            ha="right" if right_half else "left",
            va="center",
            fontsize=9,
            color=COLORS["mark"],
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "alpha": 0.8, "lw": 0},
            zorder=6,
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
    if report.band is not None:
        centres, half = report.band
        # A row is inside its interval when its actual value is within the half-width of its
        # prediction: horizontally around the diagonal, at the height of the prediction.
        axes.fill_betweenx(
            centres, centres - half, centres + half, color=COLORS["band"], alpha=0.2, lw=0,
            label=_interval_label(report),
        )  # fmt: skip
    axes.plot(
        [low, high], [low, high], color=COLORS["line"], ls="--", lw=1.2, label="perfect prediction"
    )
    axes.set_xlabel(_plain(f"actual {report.target_name}"))
    axes.set_ylabel(_plain(f"predicted {report.target_name}"))
    axes.set_title(f"Predicted vs actual: {report.kind}")
    axes.grid(alpha=0.3)
    axes.legend(loc="best", fontsize=9)


def _interval_label(report: Report) -> str:
    share = round(100 * (report.level or 0.9))
    return f"{share} % prediction interval"


def _plot_losses(axes: Axes, report: Report) -> None:
    """The error on training and held-out rows pass by pass. The kept pass is marked and what
    came after it is faded: a late rise is why training stopped, not a failure. When the
    straight line was chosen, every network curve is faded and the line's error stands out."""
    history = report.history
    passes = history.get("passes") or list(range(1, len(history.get("loss", [])) + 1))
    line_chosen = report.kind != "network"
    kept = None if line_chosen else report.best_pass
    marker = "." if len(passes) <= 50 else None
    faded = False
    for key, color, label in (
        ("loss", COLORS["network"], "training rows"),
        ("val_loss", COLORS["data"], "held-out rows"),
    ):
        values = np.asarray(history.get(key) or [], np.float64)
        x = np.asarray(passes[: len(values)], np.float64)
        if not len(values):
            continue
        if line_chosen:
            axes.plot(x, values, color=color, alpha=FADED, marker=marker,
                      label=f"network, {label} (not chosen)")  # fmt: skip
            continue
        solid = x <= kept if kept else np.ones(len(x), bool)
        axes.plot(x[solid], values[solid], color=color, marker=marker, label=label)
        after = x >= kept if kept else np.zeros(len(x), bool)
        if after.sum() > 1:
            axes.plot(x[after], values[after], color=color, alpha=FADED, ls="--", marker=marker)
            faded = True
    if faded:
        axes.plot([], [], color="0.4", alpha=FADED, ls="--", label="after the kept pass (not used)")
    if report.line_mse is not None and history.get("val_loss"):
        axes.axhline(
            report.line_mse, color=COLORS["line"], ls="-" if line_chosen else "--",
            lw=2 if line_chosen else 1.2,
            label="straight line, held out: kept" if line_chosen else "straight line, held out",
        )  # fmt: skip
    if kept:
        axes.axvline(kept, color=COLORS["mark"], ls=":", lw=1.4, label=f"kept: pass {kept}")
    positive = [v for v in history.get("loss", []) + history.get("val_loss", []) if v > 0]
    if positive:
        _log_axis(axes, positive)
        axes.legend(loc="best", fontsize=7.5, framealpha=0.9)
    else:
        axes.text(0.5, 0.5, "no loss history", ha="center", va="center", transform=axes.transAxes)
    axes.set_xlabel("passes over the rows (epochs)")
    axes.set_ylabel(_plain(f"mean squared error ({report.target_name} units²)"), fontsize=9)
    axes.set_title("Error while training (lower is better)")
    axes.grid(alpha=0.3)


def _log_axis(axes: Axes, positive: Sequence[float]) -> None:
    axes.set_yscale("log")
    # Minor ticks of a log axis took about a third of the whole PNG's rendering time: the
    # major ticks at 1, 2 and 5 of each decade read as well, and a short span still has some.
    subs = (1.0,) if max(positive) >= 100 * min(positive) else (1.0, 2.0, 5.0)
    axes.yaxis.set_major_locator(LogLocator(subs=subs))
    axes.yaxis.set_minor_locator(NullLocator())
    # Plain numbers (0.5, 2, 100): the default 10^k labels go through mathtext, which
    # took a fifth of the PNG's rendering time, and read no better.
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))


def _plot_importance(axes: Axes, report: Report) -> None:
    """The top inputs as bars: each one's share of what the model loses on held-out rows when
    that input is shuffled."""
    names = [name for name, _ in report.importance][::-1]
    shares = np.array([share for _, share in report.importance][::-1])
    places = np.arange(len(names))
    axes.barh(places, shares, color=COLORS["bars"], height=0.65)
    for place, name, share in zip(places, names, shares, strict=True):
        shown = name if len(name) <= 28 else name[:27] + "…"
        # Beside its bar, or inside it when the bar leaves no room on the right.
        inside = share > 0.6
        axes.text(
            share - 0.01 if inside else share + 0.01, place,
            _plain(f"{shown}  {share:.0%}".replace("%", " %")),
            va="center", ha="right" if inside else "left", fontsize=8,
        )  # fmt: skip
    axes.set_xlim(0, 1.0)
    axes.set_yticks([])
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.0%}"))
    axes.tick_params(axis="x", labelsize=8)
    axes.set_title("What drives it: share of importance (held-out rows)", fontsize=10)
    axes.grid(alpha=0.3, axis="x")
