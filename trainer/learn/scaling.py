"""Standardising inputs and target with the training rows' means and deviations.

Only real numbers are standardised. A 0/1 column (a category's level, a gap indicator) stays
0/1: standardised, a level seen on 2 of 6,000 rows would become a 55-sigma input, and a
network's prediction for that level would swing by most of the target's range.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def binary_columns(features: np.ndarray) -> np.ndarray:
    """Which columns hold nothing but 0 and 1 (one-hot levels, gap indicators)."""
    x = np.asarray(features)
    if not x.size:
        return np.zeros(x.shape[1] if x.ndim == 2 else 0, dtype=bool)
    return np.all((x == 0) | (x == 1), axis=0)


def fit_scaling(features: np.ndarray, target: np.ndarray, scale: bool) -> dict[str, Any]:
    """Means and standard deviations to standardise with (identity when ``scale`` is off, and
    for 0/1 columns)."""
    k = features.shape[1]
    if not scale:
        return {"x_mean": [0.0] * k, "x_std": [1.0] * k, "y_mean": 0.0, "y_std": 1.0}
    binary = binary_columns(features)
    x_std = features.std(axis=0) if len(features) else np.ones(k)
    # A constant column would divide by zero; leaving it unscaled is harmless.
    x_std = np.where(binary | (x_std <= 0), 1.0, x_std)
    x_mean = np.where(binary, 0.0, features.mean(axis=0) if len(features) else 0.0)
    y_std = float(target.std())
    return {
        "x_mean": np.asarray(x_mean, np.float64).tolist(),
        "x_std": np.asarray(x_std, np.float64).tolist(),
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
