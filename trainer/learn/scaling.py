"""Standardising inputs and target with the training rows' means and deviations."""

from __future__ import annotations

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
