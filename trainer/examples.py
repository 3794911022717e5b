"""Example data the project generates itself: the tutorial's Fahrenheit table and test curves."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np


def fahrenheit_csv(n: int = 1000) -> bytes:
    """Header ``x,y``; x = 0..n-1 °F, y = (x - 32) * 5/9 °C rounded to 2 decimals."""
    rows = [f"{x},{round((x - 32) * 5 / 9, 2)!r}" for x in range(n)]
    return ("x,y\n" + "\n".join(rows) + "\n").encode()


def noisy_linear_csv(n: int = 1000, *, seed: int = 0, noise: float = 1.0) -> bytes:
    """``y = 3x - 7`` plus Gaussian noise, x uniform in [-10, 10]."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-10, 10, n)
    return _csv(x, 3 * x - 7 + rng.normal(0, noise, n))


def curve_csv(kind: str, n: int = 1000, *, seed: int = 0) -> bytes:
    """A curved relation without noise: ``square`` (y = x², x in [-3, 3]) or ``sine`` (y = sin x,
    x in [0, 2π])."""
    rng = np.random.default_rng(seed)
    if kind == "square":
        x = rng.uniform(-3, 3, n)
        return _csv(x, x**2)
    if kind == "sine":
        x = rng.uniform(0, 2 * math.pi, n)
        return _csv(x, np.sin(x))
    raise ValueError(f"unknown curve {kind!r}")


def big_csv(n: int = 100_000, *, seed: int = 0) -> bytes:
    """Two inputs and a mildly curved target with noise, for speed checks on large uploads."""
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(0, 10, n), rng.uniform(-5, 5, n)
    y = 2 * a - b + 0.3 * a * b + rng.normal(0, 0.5, n)
    lines = (f"{p:.6g},{q:.6g},{r:.6g}" for p, q, r in zip(a, b, y, strict=True))
    return ("a,b,y\n" + "\n".join(lines) + "\n").encode()


def write_examples(folder: Path) -> list[Path]:
    """Write the example CSV files into ``folder`` and return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "fahrenheit.csv"
    path.write_bytes(fahrenheit_csv())
    return [path]


def _csv(x: np.ndarray, y: np.ndarray) -> bytes:
    lines = (f"{a:.9g},{b:.9g}" for a, b in zip(x, y, strict=True))
    return ("x,y\n" + "\n".join(lines) + "\n").encode()


if __name__ == "__main__":
    for written in write_examples(Path(__file__).resolve().parents[1] / "examples"):
        print(written)
