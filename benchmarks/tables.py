"""Regression tables for the real-data benchmark: two bundled with scikit-learn (nothing is
downloaded) and tables of our own making, each with a known difficulty."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Table:
    name: str
    features: np.ndarray
    target: np.ndarray
    about: str

    @property
    def shape(self) -> str:
        return f"{len(self.target)} × {self.features.shape[1]}"


def diabetes() -> Table:
    from sklearn.datasets import load_diabetes

    data = load_diabetes(as_frame=True, scaled=False)
    return Table(
        "diabetes", data.data.to_numpy(float), data.target.to_numpy(float), "real, near linear"
    )


def friedman1() -> Table:
    from sklearn.datasets import make_friedman1

    x, y = make_friedman1(n_samples=500, noise=1.0, random_state=0)
    return Table("Friedman #1", x, y, "curved, 5 of 10 inputs matter")


def linnerud() -> Table:
    from sklearn.datasets import load_linnerud

    data = load_linnerud()
    return Table("linnerud (weight)", data.data.astype(float), data.target[:, 0].astype(float),
                 "real, 20 rows")  # fmt: skip


def noisy_linear(rng: np.random.Generator) -> Table:
    x = rng.normal(size=(300, 4))
    y = x @ [2.0, -1.0, 0.5, 0.0] + 3 + rng.normal(0, 1.5, 300)
    return Table("noisy linear", x, y, "linear, noise sd 1.5")


def curved(rng: np.random.Generator) -> Table:
    x = rng.uniform(-2, 2, size=(400, 2))
    y = np.sin(2 * x[:, 0]) * x[:, 1] + 0.5 * x[:, 0] ** 2 + rng.normal(0, 0.2, 400)
    return Table("curved", x, y, "sin × x, square")


def few_rows_many_inputs(rng: np.random.Generator) -> Table:
    x = rng.normal(size=(40, 15))
    y = x[:, :3] @ [1.5, -2.0, 1.0] + rng.normal(0, 1.0, 40)
    return Table("few rows, many inputs", x, y, "40 rows, 15 inputs, 3 matter")


def outliers(rng: np.random.Generator) -> Table:
    x = rng.uniform(0, 10, size=(250, 3))
    y = x @ [1.0, 2.0, -0.5] + rng.normal(0, 1.0, 250)
    hit = rng.choice(250, 12, replace=False)
    y[hit] += rng.normal(0, 25, 12)
    return Table("outliers", x, y, "linear, 5% wild targets")


def growing_noise(rng: np.random.Generator) -> Table:
    x = rng.uniform(0, 10, size=(200, 1))
    y = 3 * x[:, 0] + 1 + rng.normal(0, 1, 200) * (0.2 + 0.5 * x[:, 0])
    return Table("noise grows with x", x, y, "one input, heteroscedastic")


def small_curve(rng: np.random.Generator) -> Table:
    x = rng.uniform(-3, 3, size=(60, 1))
    y = x[:, 0] ** 2 + rng.normal(0, 0.5, 60)
    return Table("small curve", x, y, "60 rows, y = x² + noise")


def tiny(rng: np.random.Generator) -> Table:
    x = rng.uniform(0, 5, size=(16, 2))
    y = 2 * x[:, 0] - x[:, 1] + rng.normal(0, 0.5, 16)
    return Table("tiny", x, y, "16 rows, linear")


MADE: tuple[Callable[[np.random.Generator], Table], ...] = (
    noisy_linear, curved, few_rows_many_inputs, outliers, growing_noise, small_curve, tiny,
)  # fmt: skip


def all_tables(seed: int = 0) -> list[Table]:
    rng = np.random.default_rng(seed)
    return [diabetes(), friedman1(), linnerud(), *(make(rng) for make in MADE)]
