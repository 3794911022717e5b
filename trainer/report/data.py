"""What a training report shows, as plain data: made where the model is (``report_of``, which
needs the model's predictions), drawn anywhere (trainer.report.drawing), also in another
process."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from trainer import words
from trainer.tables.dataset import Dataset

if TYPE_CHECKING:
    from trainer.learn.fit import Fit
    from trainer.model_file.predictor import Prediction

MAX_POINTS = 2000  # more dots add bytes, not information


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
    # One input: the curve over x.
    x_name: str | None = None
    x: np.ndarray | None = None
    x_range: tuple[float, float] = (0.0, 0.0)  # of every row, not only the shown ones
    grid: np.ndarray | None = None
    grid_predicted: np.ndarray | None = None
    grid_line: np.ndarray | None = None  # least squares on the grid
    marked: tuple[tuple[float, float], ...] = ()  # the predictions asked for: (x, y)
    # Several inputs: the model's own fit of the shown rows, against their targets.
    fitted: np.ndarray | None = None


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
        "verdict": words.verdict(result.verdict),
        "target_name": dataset.target_name,
        "kind": _kind(result),
        "folds": int(result.validation.get("folds", 0)) if result.validation else 0,
        "y": dataset.target[shown],
        "held_out": held_out,
        "held_out_predicted": result.held_out[shown] if held_out.any() else None,  # type: ignore[index]
        "history": result.history,
        "line_mse": result.validation.get("line_mse") if result.validation else None,
        "best_pass": result.best_pass,
    }
    if len(dataset.feature_names) != 1:
        return Report(**common, fitted=result.predict(dataset.features[shown]))
    x = dataset.features[:, 0]
    marked = tuple((p.value, p.predicted) for p in predictions if len(p.values) == 1)
    low = min([float(x.min())] + [value for value, _ in marked])
    high = max([float(x.max())] + [value for value, _ in marked])
    grid = np.linspace(low, high, 400)
    line = None
    if result.baseline:
        line = result.baseline["coefficients"][0] * grid + result.baseline["intercept"]
    return Report(
        **common,
        x_name=dataset.feature_names[0],
        x=x[shown],
        x_range=(float(x.min()), float(x.max())),
        grid=grid,
        grid_predicted=result.predict(grid[:, None]),
        grid_line=line,
        marked=marked,
    )


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
