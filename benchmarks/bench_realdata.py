"""The default recipe on real and made tables, cross-validated against scikit-learn's models.

Each table is split by ``KFold(5, shuffle=True, random_state=0)``; every model trains on each
training fold and predicts the held-out fold. The bars compare trainbot's cross-validated MSE
with the better of least squares and RidgeCV, and Friedman #1 with gradient boosting.

    python -m benchmarks.bench_realdata            # both backends, in subprocesses
    python -m benchmarks.bench_realdata --backend jax --json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import numpy as np

from benchmarks.bench_trainer import json_subprocess
from benchmarks.machine import describe
from benchmarks.tables import all_tables

FOLDS = 5


def bar_for(rows: int) -> float:
    """The bar for a table's ratio to the better linear model, by its row count."""
    if rows >= 200:
        return 1.02
    if rows >= 100:
        return 1.05
    return 1.10


def measure() -> dict[str, Any]:
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import LinearRegression, RidgeCV
    from sklearn.model_selection import KFold

    from trainer.backend import backend_name
    from trainer.learn.training import train
    from trainer.params import TrainParams
    from trainer.tables.dataset import Dataset

    rows = []
    for table in all_tables():
        names = [f"x{i}" for i in range(1, table.features.shape[1] + 1)]
        errors: dict[str, list[float]] = {
            "least squares": [], "RidgeCV": [], "HistGradientBoosting": [], "trainbot": []
        }  # fmt: skip
        kinds, seconds = [], []
        for train_rows, test_rows in KFold(FOLDS, shuffle=True, random_state=0).split(
            table.features
        ):
            x_train, y_train = table.features[train_rows], table.target[train_rows]
            x_test, y_test = table.features[test_rows], table.target[test_rows]
            for name, model in (
                ("least squares", LinearRegression()),
                ("RidgeCV", RidgeCV()),
                ("HistGradientBoosting", HistGradientBoostingRegressor(random_state=0)),
            ):
                predicted = model.fit(x_train, y_train).predict(x_test)
                errors[name].append(float(np.mean((predicted - y_test) ** 2)))
            dataset = Dataset(x_train, y_train, names, "y")
            started = time.perf_counter()
            result = train(dataset, TrainParams(seed=0))
            seconds.append(time.perf_counter() - started)
            kinds.append(result.model_kind)
            predicted = result.predict(x_test)
            errors["trainbot"].append(float(np.mean((predicted - y_test) ** 2)))
        mse = {name: float(np.mean(values)) for name, values in errors.items()}
        rows.append(
            {
                "table": table.name,
                "shape": table.shape,
                "rows": len(table.target),
                "about": table.about,
                "mse": mse,
                "network_folds": kinds.count("network"),
                # The first fold pays for compiling; the rest show a warm worker.
                "warm_fit_seconds": float(np.median(seconds[1:])),
            }
        )
    return {"backend": backend_name(), "tables": rows}


def render(results: list[dict[str, Any]]) -> str:
    lines = ["## Real-data benchmark (5-fold cross-validated MSE)", ""]
    lines.append(
        "Ratio: trainbot's MSE ÷ the better of least squares and RidgeCV. Bars: ≤ 1.02 from "
        "200 rows, ≤ 1.05 from 100, ≤ 1.10 below; Friedman #1 ≤ 0.9 × HistGradientBoosting. "
        '"network" counts the folds where trainbot kept the network rather than the line.'
    )
    for result in results:
        lines += [
            "",
            f"### Backend {result['backend']}",
            "",
            "| table | rows × inputs | least squares | RidgeCV | HistGB | trainbot | ratio | bar |"
            " network | warm fit |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for row in result["tables"]:
            mse = row["mse"]
            linear = min(mse["least squares"], mse["RidgeCV"])
            ratio = mse["trainbot"] / linear
            bar = bar_for(row["rows"])
            verdict = f"≤ {bar:.2f} {'pass' if ratio <= bar else 'FAIL'}"
            if row["table"].startswith("Friedman"):
                to_gb = mse["trainbot"] / mse["HistGradientBoosting"]
                verdict += f"; {to_gb:.2f}× HistGB ≤ 0.9 {'pass' if to_gb <= 0.9 else 'FAIL'}"
            lines.append(
                f"| {row['table']} | {row['shape']} | {_g(mse['least squares'])} | "
                f"{_g(mse['RidgeCV'])} | {_g(mse['HistGradientBoosting'])} | "
                f"{_g(mse['trainbot'])} | {ratio:.3f} | {verdict} | {row['network_folds']}/5 | "
                f"{row['warm_fit_seconds']:.2f} s |"
            )
    return "\n".join(lines)


def _g(value: float) -> str:
    return f"{value:,.4g}"


def main(backends: tuple[str, ...] = ("jax", "tensorflow")) -> str:
    results = [
        json_subprocess(
            ["-m", "benchmarks.bench_realdata", "--json"],
            {"KERAS_BACKEND": backend},
            timeout=1800,
        )
        for backend in backends
    ]
    return f"Machine: {describe()}.\n\n" + render(results)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="measure this backend, print JSON")
    parser.add_argument("--backend", action="append", choices=("jax", "tensorflow"))
    args = parser.parse_args()
    if args.json:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        print(json.dumps(measure()))
    else:
        print(main(tuple(args.backend or ("jax", "tensorflow"))))
