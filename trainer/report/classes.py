"""A classifier's report (issue 20): a confusion matrix of the held-out rows, a calibration
panel (how often the class said was right, against the probability given), and what drives it.

``class_report_of`` is made where the model is; ``draw_class_png`` draws anywhere (matplotlib
and NumPy only, also in the drawing processes of trainer.report.processes).
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from trainer.judge.classes import calibration, confusion
from trainer.words import classes as class_words

if TYPE_CHECKING:
    from trainer.learn.fit import Fit
    from trainer.tables.dataset import Dataset

MAX_SHOWN_CLASSES = 12  # labels on the matrix's axes; more would not be read


@dataclass(frozen=True)
class ClassReport:
    """What a classifier's PNG shows, as plain data."""

    heading: str
    footer: str
    classes: tuple[str, ...]
    matrix: np.ndarray  # (true, predicted) counts of held-out rows (all rows when none held)
    held_out: bool
    bins: tuple[tuple[float, float, int], ...]  # calibration: (mean probability, share right, rows)
    importance: tuple[tuple[str, float], ...] = ()


def class_report_of(dataset: Dataset, result: Fit, *, title: str | None = None) -> ClassReport:
    """The report of a trained classifier: held-out figures when there are any."""
    codes = dataset.target.astype(np.int64)
    proba = result.held_out_proba
    held_out = proba is not None
    if proba is None:
        proba = result.predict_proba(dataset.features)
    classes = tuple(result.classes or ())
    kind = "logistic regression" if result.model_kind == "line" else "network"
    metrics = (result.metrics or {}).get("validation") or (result.metrics or {}).get("train")
    ranked = sorted((result.importance or {}).items(), key=lambda pair: -pair[1])[:6]
    return ClassReport(
        heading=title or f"Predicting {dataset.target_name} ({kind}, {len(classes)} classes)",
        footer=("On rows it never learned: " if held_out else "On the rows it learned: ")
        + class_words.metrics_line(metrics),
        classes=classes,
        matrix=confusion(codes, proba.argmax(axis=1), len(classes)),
        held_out=held_out,
        bins=tuple(calibration(codes, proba)),
        importance=tuple((name, float(share)) for name, share in ranked if share > 0),
    )


def draw_class_png(report: ClassReport) -> bytes:
    """A 1200x560 PNG: the confusion matrix on the left; calibration and importance on the right."""
    figure = Figure(figsize=(12, 5.6), dpi=100)
    FigureCanvasAgg(figure)
    rows = 2 if report.importance else 1
    grid = figure.add_gridspec(rows, 2, width_ratios=[1, 1], hspace=0.55, wspace=0.3)
    _matrix(figure.add_subplot(grid[:, 0]), report)
    _calibration(figure.add_subplot(grid[0, 1]), report)
    if report.importance:
        _importance(figure.add_subplot(grid[1, 1]), report.importance)
    figure.suptitle(_plain(report.heading), fontsize=13, fontweight="bold")
    figure.text(
        0.5, 0.015, _plain(textwrap.fill(report.footer, 140)), ha="center", va="bottom", fontsize=9
    )
    figure.subplots_adjust(left=0.1, right=0.98, bottom=0.16, top=0.87)
    buffer = io.BytesIO()
    # The title names the panels in the file itself (tests and people find a report by it).
    metadata = {"Software": None, "Title": "Confusion matrix and calibration"}
    figure.savefig(buffer, format="png", dpi=100, metadata=metadata)
    return buffer.getvalue()


def _plain(text: str) -> str:
    return text.replace("$", r"\$")  # see trainer.report.drawing._plain


def _short(label: str) -> str:
    return _plain(label if len(label) <= 14 else label[:13] + "…")


def _matrix(axes: Axes, report: ClassReport) -> None:
    """Counts of (true, predicted) classes, each row shaded by its share."""
    matrix = report.matrix
    k = len(report.classes)
    share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    axes.imshow(share, cmap="Blues", vmin=0, vmax=1)
    if k <= MAX_SHOWN_CLASSES:
        for true in range(k):
            for guess in range(k):
                axes.text(
                    guess, true, f"{matrix[true, guess]:,}", ha="center", va="center",
                    color="white" if share[true, guess] > 0.6 else "black", fontsize=9,
                )  # fmt: skip
        labels = [_short(label) for label in report.classes]
        axes.set_xticks(range(k), labels, rotation=30, ha="right", fontsize=8)
        axes.set_yticks(range(k), labels, fontsize=8)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    rows = "held-out rows" if report.held_out else "rows it learned"
    axes.set_title(f"Confusion matrix ({rows})", fontsize=10)


def _calibration(axes: Axes, report: ClassReport) -> None:
    """Per bin of the probability given to the class said: how often that class was right."""
    axes.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="fully reliable")
    if report.bins:
        given = [b[0] for b in report.bins]
        right = [b[1] for b in report.bins]
        sizes = np.array([b[2] for b in report.bins], np.float64)
        axes.plot(given, right, color="#dd8452", marker="o", linewidth=1.5)
        axes.scatter(
            given, right, s=20 + 180 * sizes / sizes.max(), color="#dd8452", alpha=0.4,
            label="this model (dot size: rows)",
        )  # fmt: skip
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.02)
    axes.set_xlabel("probability given to the class said", fontsize=8)
    axes.set_ylabel("share right", fontsize=8)
    axes.set_title("How reliable the probabilities are", fontsize=10)
    axes.legend(fontsize=8, loc="upper left")
    axes.grid(alpha=0.3)


def _importance(axes: Axes, importance: Sequence[tuple[str, float]]) -> None:
    names = [_short(name) for name, _ in importance][::-1]
    shares = [share for _, share in importance][::-1]
    axes.barh(range(len(names)), shares, color="#64b5cd", height=0.65)
    axes.set_yticks(range(len(names)), names, fontsize=8)
    axes.set_xlim(0, 1)
    axes.set_title("What drives it: share of importance (held-out rows)", fontsize=10)
    axes.grid(alpha=0.3, axis="x")
