"""What a training report shows, as plain data: made where the model is (``report_of``, which
needs the model's predictions), drawn anywhere (trainer.report.drawing), also in another
process."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from trainer.judge.intervals import IntervalModel
from trainer.tables.dataset import Dataset
from trainer.words import summary as summary_words

if TYPE_CHECKING:
    from trainer.learn.fit import Fit
    from trainer.model_file.predictor import Prediction

MAX_POINTS = 2000  # more dots add bytes, not information
MAX_BARS = 6  # inputs in the importance panel; the rest are summed as "others"
BAND_STEPS = 24  # points of the interval band drawn around predicted vs actual


@dataclass(frozen=True)
class Report:
    """Everything the report's PNG shows, as plain arrays and text: made where the model is
    (`report_of`), drawn anywhere (`draw_report_png`), also in another process."""

    heading: str
    verdict: str
    target_name: str
    kind: str  # "network" or "straight line (chosen)"
    folds: int
    y: np.ndarray  # the shown rows' targets
    held_out: np.ndarray  # which shown rows were held out
    held_out_predicted: np.ndarray | None  # their out-of-fold predictions
    history: dict[str, list[float]]
    line_mse: float | None  # the straight line's held-out error
    best_pass: int | None
    # What drives it: (input column, share) most important first; empty for one input.
    importance: tuple[tuple[str, float], ...] = ()
    level: float | None = None  # the prediction interval's, None without one
    # One input: the curve over x.
    x_name: str | None = None
    x: np.ndarray | None = None
    x_range: tuple[float, float] = (0.0, 0.0)  # of every row, not only the shown ones
    grid: np.ndarray | None = None
    grid_predicted: np.ndarray | None = None
    grid_line: np.ndarray | None = None  # the straight line (ridge, or least squares) on the grid
    grid_low: np.ndarray | None = None  # the prediction interval on the grid
    grid_high: np.ndarray | None = None
    marked: tuple[tuple[float, float], ...] = ()  # the predictions asked for: (x, y)
    marked_ranges: tuple[tuple[float, float], ...] = ()  # their intervals: (low, high)
    # Several inputs: the model's own fit of the shown rows, against their targets.
    fitted: np.ndarray | None = None
    # The interval around predicted vs actual: at each predicted value, its typical half-width.
    band: tuple[np.ndarray, np.ndarray] | None = None


def report_of(
    dataset: Dataset,
    result: Fit,
    predictions: Sequence[Prediction] = (),
    *,
    title: str | None = None,
) -> Report:
    """What the report shows, with the model's predictions computed (it needs the model)."""
    shown = _sample(dataset.n_rows)
    held_out = _held_out_rows(result, dataset.n_rows)[shown]
    common = {
        "heading": title
        or f"Predicting {dataset.target_name} from {', '.join(dataset.input_names)}",
        "verdict": summary_words.verdict(result.verdict),
        "target_name": dataset.target_name,
        "kind": _kind(result),
        "folds": int(result.validation.get("folds", 0)) if result.validation else 0,
        "y": dataset.target[shown],
        "held_out": held_out,
        "held_out_predicted": result.held_out[shown] if held_out.any() else None,  # type: ignore[index]
        "history": result.history,
        "line_mse": result.validation.get("line_mse") if result.validation else None,
        "best_pass": result.best_pass,
        "importance": _importance(result.importance),
    }
    interval = IntervalModel.from_dict(result.scaling.get("interval"))
    if interval is not None:
        common["level"] = interval.level
    if len(dataset.feature_names) != 1:
        features = dataset.features[shown]
        fitted = result.predict(features)
        band = None if interval is None else _band(fitted, interval.half_width(features, fitted))
        return Report(**common, fitted=fitted, band=band)
    x = dataset.features[:, 0]
    asked = [p for p in predictions if len(p.values) == 1]
    marked = tuple((p.value, p.predicted) for p in asked)
    ranges = tuple((p.low, p.high) for p in asked if p.low is not None and p.high is not None)
    low = min([float(x.min())] + [value for value, _ in marked])
    high = max([float(x.max())] + [value for value, _ in marked])
    grid = np.linspace(low, high, 400)
    line = None
    if result.baseline:
        line = result.baseline["coefficients"][0] * grid + result.baseline["intercept"]
    predicted = result.predict(grid[:, None])
    low, high = (None, None) if interval is None else interval.bounds(grid[:, None], predicted)
    return Report(
        **common,
        x_name=dataset.feature_names[0],
        x=x[shown],
        x_range=(float(x.min()), float(x.max())),
        grid=grid,
        grid_predicted=predicted,
        grid_line=line,
        grid_low=low,
        grid_high=high,
        marked=marked,
        marked_ranges=ranges if len(ranges) == len(marked) else (),
    )


def _importance(shares: dict[str, float] | None) -> tuple[tuple[str, float], ...]:
    """The top inputs and their shares, the rest summed as "others"; none for one input."""
    ranked = sorted((shares or {}).items(), key=lambda pair: -pair[1])
    if len(ranked) < 2 or not any(share > 0 for _, share in ranked):
        return ()
    if len(ranked) > MAX_BARS:
        others = sum(share for _, share in ranked[MAX_BARS - 1 :])
        ranked = [*ranked[: MAX_BARS - 1], (f"{len(ranked) - MAX_BARS + 1} others", others)]
    return tuple((name, float(share)) for name, share in ranked)


def _band(fitted: np.ndarray, half: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(predicted values, half-width at each): the median half-width of the rows in each of
    BAND_STEPS slices of the predicted range, so a width that varies draws as a smooth band."""
    order = np.argsort(fitted)
    slices = [part for part in np.array_split(order, min(BAND_STEPS, len(order))) if len(part)]
    centres = np.array([float(np.median(fitted[part])) for part in slices])
    widths = np.array([float(np.median(half[part])) for part in slices])
    # The band reaches the extreme predictions, not only the slices' middles.
    centres = np.concatenate([[fitted[order[0]]], centres, [fitted[order[-1]]]])
    widths = np.concatenate([widths[:1], widths, widths[-1:]])
    return centres, widths


def _sample(n: int, seed: int = 0) -> np.ndarray:
    if n <= MAX_POINTS:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, MAX_POINTS, replace=False))


def _held_out_rows(result: Fit, n_rows: int) -> np.ndarray:
    if result.held_out is None or len(result.held_out) != n_rows:
        return np.zeros(n_rows, dtype=bool)
    return np.isfinite(result.held_out)


def _kind(result: Fit) -> str:
    return "straight line (chosen)" if result.model_kind == "line" else "network"
