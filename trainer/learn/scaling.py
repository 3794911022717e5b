"""Standardising inputs and target with the training rows' means and deviations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


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


def predict_scaled(
    network: Callable[[np.ndarray], np.ndarray], scaling: dict[str, Any], features: np.ndarray
) -> np.ndarray:
    """Run ``network`` on raw features, standardising around it unless it does so itself.

    Models of the default recipe carry their scaling as layers (``in_model``); older ones and
    the tutorial's network get it applied here.
    """
    raw = np.asarray(features, dtype=np.float64)
    if raw.ndim == 1:
        raw = raw[:, None]
    if scaling.get("in_model"):
        return np.asarray(network(raw), dtype=np.float64).reshape(-1)
    scaled = (raw - np.asarray(scaling["x_mean"])) / np.asarray(scaling["x_std"])
    predicted = np.asarray(network(scaled), dtype=np.float64).reshape(-1)
    return predicted * scaling["y_std"] + scaling["y_mean"]
