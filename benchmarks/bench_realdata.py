"""The default recipe on real and made tables, cross-validated against scikit-learn's models.

Every table is a CSV as users send it (benchmarks.frames: real R and scikit-learn tables, trap
tables in German and Russian formats, numeric made ones). Each is split by
``KFold(5, shuffle=True, random_state=0)``; trainbot reads each training fold's CSV bytes with
``read_dataset`` and trains as ``trainbot train`` does, and predicts the held-out fold's CSV
through the model's column plan as ``trainbot predict`` does. The baselines get standard
preprocessing of the true values on the same folds (one-hot categories, median-imputed
numbers, dates as years; standardised for the linear ones).

Bars: trainbot's MSE ≤ 1.02 × the better linear model from 200 rows, ≤ 1.05 from 100, ≤ 1.10
below; ≤ 1.25 × HistGradientBoosting on every table of 1,000 rows or more, and a geometric
mean ≤ 1.0 × HistGradientBoosting over all tables.

    python -m benchmarks.bench_realdata            # JAX, in a subprocess
    python -m benchmarks.bench_realdata --backend jax --backend tensorflow
    python -m benchmarks.bench_realdata --backend jax --json --quick   # made and trap tables
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_trainer import json_subprocess
from benchmarks.machine import describe

FOLDS = 5
GB_BAR, GB_ROWS, GEOMEAN_BAR = 1.25, 1000, 1.0


def bar_for(rows: int) -> float:
    """The bar for a table's ratio to the better linear model, by its row count."""
    if rows >= 200:
        return 1.02
    if rows >= 100:
        return 1.05
    return 1.10


def _baseline_matrices(frame: Any, target: str, train_rows: np.ndarray, test_rows: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Standard preprocessing fitted on the training rows: (linear train, linear test,
    trees train, trees test)."""
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    inputs = frame.drop(columns=[target]).copy()
    for column in inputs.columns:
        if pd.api.types.is_datetime64_any_dtype(inputs[column]):
            stamp = inputs[column]
            inputs[column] = stamp.dt.year + (stamp.dt.dayofyear - 1) / 365.25
    numbers = [c for c in inputs.columns if pd.api.types.is_numeric_dtype(inputs[c])]
    texts = [c for c in inputs.columns if c not in numbers]
    inputs[texts] = inputs[texts].astype(object).where(inputs[texts].notna(), "(missing)")

    def transformer(scale: bool) -> Any:
        number_steps = [SimpleImputer(strategy="median")] + ([StandardScaler()] if scale else [])
        return ColumnTransformer(
            [("numbers", make_pipeline(*number_steps), numbers),
             ("texts", OneHotEncoder(handle_unknown="ignore", sparse_output=False), texts)]
        )  # fmt: skip

    out = []
    for scale in (True, False):
        prepared = transformer(scale).fit(inputs.iloc[train_rows])
        out += [
            prepared.transform(inputs.iloc[train_rows]),
            prepared.transform(inputs.iloc[test_rows]),
        ]
    return out[0], out[1], out[2], out[3]


def _trainbot_fold(table: Any, train_rows: np.ndarray, test_rows: np.ndarray
                   ) -> tuple[np.ndarray, str, float]:  # fmt: skip
    """Held-out predictions of trainbot trained on the training fold's CSV, the model kind
    and the fit's seconds."""
    from trainer.learn.training import train
    from trainer.params import TrainParams
    from trainer.tables.dataset import input_cells, read_dataset, read_table

    dataset = read_dataset(table.csv(train_rows), y=table.target)
    started = time.perf_counter()
    result = train(dataset, TrainParams(seed=0))
    seconds = time.perf_counter() - started
    held_out = read_table(table.csv(test_rows), min_columns=1)
    cells, _ = input_cells(held_out, dataset.column_plan)
    encoded = dataset.column_plan.encode(
        cells, n_rows=held_out.n_rows, decimal_comma=held_out.decimal_comma
    )
    return result.predict(encoded.matrix), result.model_kind, seconds


def measure(quick: bool = False, only: tuple[str, ...] = ()) -> dict[str, Any]:
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import LinearRegression, RidgeCV
    from sklearn.model_selection import KFold

    from benchmarks.frames import all_frames
    from trainer.backend import backend_name

    rows = []
    for table in all_frames(real=not quick):
        if only and table.name not in only:
            continue
        began = time.perf_counter()
        y = table.frame[table.target].to_numpy(float)
        errors: dict[str, list[float]] = {
            "least squares": [], "RidgeCV": [], "HistGradientBoosting": [], "trainbot": []
        }  # fmt: skip
        kinds, seconds, refused = [], [], ""
        for train_rows, test_rows in KFold(FOLDS, shuffle=True, random_state=0).split(y):
            linear_train, linear_test, tree_train, tree_test = _baseline_matrices(
                table.frame, table.target, train_rows, test_rows
            )
            for name, model, (x_train, x_test) in (
                ("least squares", LinearRegression(), (linear_train, linear_test)),
                ("RidgeCV", RidgeCV(), (linear_train, linear_test)),
                ("HistGradientBoosting", HistGradientBoostingRegressor(random_state=0),
                 (tree_train, tree_test)),
            ):  # fmt: skip
                predicted = model.fit(x_train, y[train_rows]).predict(x_test)
                errors[name].append(float(np.mean((predicted - y[test_rows]) ** 2)))
            try:
                predicted, kind, fit_seconds = _trainbot_fold(table, train_rows, test_rows)
            except Exception as error:  # a refused table is a result, not a crash
                refused = f"{type(error).__name__}: {error}"[:160]
                errors["trainbot"].append(math.nan)
                continue
            kinds.append(kind)
            seconds.append(fit_seconds)
            errors["trainbot"].append(float(np.mean((predicted - y[test_rows]) ** 2)))
        # A fold trainbot refused (its reply is a result too) leaves every model's figures to
        # the folds it answered, so that the ratios compare the same rows.
        answered = [i for i, value in enumerate(errors["trainbot"]) if math.isfinite(value)]
        mse = {
            name: float(np.mean([values[i] for i in answered])) if answered else math.nan
            for name, values in errors.items()
        }
        rows.append(
            {
                "table": table.name,
                "kind": table.kind,
                "shape": table.shape,
                "rows": table.rows,
                "about": table.about,
                "mse": mse,
                "refused": refused,
                "folds_answered": len(answered),
                "network_folds": kinds.count("network"),
                # The first fold pays for compiling; the rest show a warm worker.
                "warm_fit_seconds": float(np.median(seconds[1:] or seconds or [math.nan])),
            }
        )
        said = {name: f"{value:.4g}" for name, value in mse.items()}
        print(f"{table.name}: {time.perf_counter() - began:.0f} s {said} {kinds}", file=sys.stderr,
              flush=True)  # fmt: skip
    return {"backend": backend_name(), "tables": rows}


def render(results: list[dict[str, Any]]) -> str:
    lines = ["## Real-data benchmark (5-fold cross-validated MSE)", ""]
    lines.append(
        "Every table goes in as CSV bytes through `read_dataset` and `train`, as with "
        "`trainbot train`; baselines get one-hot categories and median-imputed numbers on the "
        "same folds. ÷ linear: trainbot's MSE ÷ the better of least squares and RidgeCV (bars "
        "≤ 1.02 from 200 rows, ≤ 1.05 from 100, ≤ 1.10 below). ÷ HistGB: trainbot's MSE ÷ "
        "HistGradientBoosting's (bar ≤ 1.25 from 1,000 rows; geometric mean ≤ 1.0 over all). "
        '"network" counts the folds where trainbot kept the network rather than the line.'
    )
    for result in results:
        lines += [
            "",
            f"### Backend {result['backend']}",
            "",
            "| table | kind | rows × inputs | least squares | RidgeCV | HistGB | trainbot |"
            " ÷ linear | ÷ HistGB | network | warm fit |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        to_gb_all, failures = [], []
        for row in result["tables"]:
            mse = row["mse"]
            linear = min(mse["least squares"], mse["RidgeCV"])
            ratio, to_gb = mse["trainbot"] / linear, mse["trainbot"] / mse["HistGradientBoosting"]
            bar = bar_for(row["rows"])
            linear_text = f"{ratio:.3f} {'✓' if ratio <= bar else '✗'} (≤ {bar:.2f})"
            gb_text = f"{to_gb:.3f}"
            if row["rows"] >= GB_ROWS:
                gb_text += f" {'✓' if to_gb <= GB_BAR else '✗'} (≤ {GB_BAR})"
            if not ratio <= bar or (row["rows"] >= GB_ROWS and not to_gb <= GB_BAR):
                failures.append(row["table"])
            if math.isfinite(to_gb):
                to_gb_all.append(to_gb)
            name = row["table"]
            if row["refused"]:
                name += f" ({FOLDS - row.get('folds_answered', 0)} fold refused: {row['refused']})"
            lines.append(
                f"| {name} | {row['kind']} | {row['shape']} | {_g(mse['least squares'])} | "
                f"{_g(mse['RidgeCV'])} | {_g(mse['HistGradientBoosting'])} | "
                f"{_g(mse['trainbot'])} | {linear_text} | {gb_text} | "
                f"{row['network_folds']}/5 | {row['warm_fit_seconds']:.2f} s |"
            )
        geomean = float(np.exp(np.mean(np.log(to_gb_all)))) if to_gb_all else math.nan
        real = [
            row["mse"]["trainbot"] / row["mse"]["HistGradientBoosting"]
            for row in result["tables"]
            if row["kind"] == "real"
        ]
        real_geomean = float(np.exp(np.mean(np.log(real)))) if real else math.nan
        lines += [
            "",
            f"Geometric mean ÷ HistGB over {len(to_gb_all)} tables: {geomean:.3f} "
            f"({'✓' if geomean <= GEOMEAN_BAR else '✗'} ≤ {GEOMEAN_BAR}); over the "
            f"{len(real)} real tables: {real_geomean:.3f}. Tables over a bar: "
            f"{', '.join(failures) or 'none'}.",
        ]
    return "\n".join(lines)


def _g(value: float) -> str:
    return f"{value:,.4g}"


def main(backends: tuple[str, ...] = ("jax",), quick: bool = False) -> str:
    results = [
        json_subprocess(
            ["-m", "benchmarks.bench_realdata", "--json"] + (["--quick"] if quick else []),
            {"KERAS_BACKEND": backend},
            timeout=3600,
        )
        for backend in backends
    ]
    return f"Machine: {describe()}.\n\n" + render(results)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="measure this backend, print JSON")
    parser.add_argument("--quick", action="store_true", help="made and trap tables only")
    parser.add_argument("--backend", action="append", choices=("jax", "tensorflow"))
    parser.add_argument("--only", action="append", default=[], help="a table's name (repeat)")
    parser.add_argument("--render", nargs="+", help="JSON files of parts of one run: their table")
    args = parser.parse_args()
    if args.render:
        parts = [
            json.loads(Path(path).read_text().strip().splitlines()[-1]) for path in args.render
        ]
        # A later part's table replaces an earlier one's of the same name (a rerun).
        tables = {t["table"]: t for p in parts for t in p["tables"]}
        merged = {"backend": parts[0]["backend"], "tables": list(tables.values())}
        print(f"Machine: {describe()}.\n\n" + render([merged]))
    elif args.json:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        print(json.dumps(measure(args.quick, tuple(args.only))))
    else:
        print(main(tuple(args.backend or ("jax",)), args.quick))
