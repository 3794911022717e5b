"""The classifier (issue 20) on made and bundled tables, against scikit-learn on the same folds.

Each table is read as trainbot reads an upload (text and category inputs, gaps), then split by
``StratifiedKFold(5, shuffle=True, random_state=0)``. On each training part trainbot trains
its default recipe (its own cross-validation inside), and scikit-learn's LogisticRegression
(standardised inputs, C=1) and HistGradientBoostingClassifier fit the same encoded features;
each predicts the held-out part. Pooled over the folds: accuracy, log-loss and macro F1.

Bars per table: no failed fold; accuracy ≥ LR's − 1 point and ≥ HGB's − 5 points; log-loss
≤ 1.05 × LR's + 0.01.

    python -m benchmarks.bench_classify              # every table, a Markdown table
    python -m benchmarks.bench_classify --only iris --json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

FOLDS = 5


@dataclass(frozen=True)
class Table:
    name: str
    what: str
    make: Callable[[], bytes]


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def _bundled(loader: str, target: str, labels: list[str] | None = None) -> Callable[[], bytes]:
    def make() -> bytes:
        from sklearn import datasets

        bunch = getattr(datasets, loader)()
        frame = pd.DataFrame(bunch.data, columns=[f"f{i}" for i in range(bunch.data.shape[1])])
        names = labels or [str(n) for n in bunch.target_names]
        frame[target] = [names[i] for i in bunch.target]
        return _csv(frame)

    return make


def _passengers() -> bytes:
    """Binary yes/no, a text category, a number with gaps (Titanic-like), 1,000 rows."""
    rng = np.random.default_rng(1)
    n = 1000
    age = rng.uniform(1, 80, n)
    fare = rng.lognormal(3, 1, n)
    sex = rng.choice(["male", "female"], n)
    port = rng.choice(["Cherbourg", "Queenstown", "Southampton"], n, p=[0.2, 0.1, 0.7])
    logit = -0.5 + 2.4 * (sex == "female") - 0.03 * (age - 30) + 0.4 * np.log(fare)
    logit += 0.5 * (port == "Cherbourg") - 2.0 * ((age < 12) & (sex == "male")) * -1
    survived = np.where(rng.uniform(size=n) < 1 / (1 + np.exp(-(logit - 1.5))), "yes", "no")
    frame = pd.DataFrame({"age": age.round(1), "fare": fare.round(2), "sex": sex, "port": port})
    frame.loc[rng.uniform(size=n) < 0.15, "age"] = np.nan  # gaps
    frame["survived"] = survived
    return _csv(frame)


def _rings() -> bytes:
    """Three classes in rings and a noise column: curved borders a line cannot draw."""
    rng = np.random.default_rng(2)
    n = 1500
    x, y = rng.normal(size=(2, n)) * 1.5
    radius = np.hypot(x, y) + rng.normal(0, 0.25, n)
    kind = np.select([radius < 1.2, radius < 2.4], ["inner", "middle"], "outer")
    # Not "x" and "y": a column named y would be the target.
    return _csv(pd.DataFrame({"east": x, "north": y, "noise": rng.normal(size=n), "ring": kind}))


def _rare() -> bytes:
    """A 0/1 target with a 3 % minority, 4,000 rows, 8 inputs and a category."""
    rng = np.random.default_rng(3)
    n = 4000
    inputs = rng.normal(size=(n, 8))
    region = rng.choice(["north", "south", "east", "west"], n)
    score = inputs[:, 0] + 0.8 * inputs[:, 1] ** 2 - 0.5 * inputs[:, 2] + 0.7 * (region == "east")
    cut = np.quantile(score + rng.normal(0, 0.7, n), 0.97)
    frame = pd.DataFrame(inputs.round(4), columns=[f"m{i}" for i in range(8)])
    frame["region"] = region
    frame["fraud"] = (score + rng.normal(0, 0.7, n) > cut).astype(int)
    return _csv(frame)


def _wide() -> bytes:
    """10,000 rows, 86 columns (80 numbers, 5 categories), 4 classes, gaps."""
    rng = np.random.default_rng(4)
    n = 10_000
    numbers = rng.normal(size=(n, 80))
    cats = rng.integers(0, 6, (n, 5))
    logits = numbers[:, :4] @ rng.normal(size=(4, 4)) + np.tanh(numbers[:, 4:8]) * 1.5
    logits[:, 0] += 0.6 * (cats[:, 0] == 2)
    label = np.argmax(logits + rng.gumbel(size=(n, 4)), axis=1)
    frame = pd.DataFrame(numbers.round(3), columns=[f"n{i}" for i in range(80)])
    for i in range(5):
        frame[f"c{i}"] = [f"level{v}" for v in cats[:, i]]
    frame.loc[rng.uniform(size=n) < 0.05, "n0"] = np.nan
    frame["segment"] = np.array(["bronze", "silver", "gold", "platinum"])[label]
    return _csv(frame)


TABLES = [
    Table("iris", "bundled, 3 classes, 150 rows", _bundled("load_iris", "species")),
    Table("wine", "bundled, 3 classes, 178 rows", _bundled("load_wine", "cultivar")),
    Table(
        "breast_cancer",
        "bundled, 2 classes, 569 rows, 30 inputs",
        _bundled("load_breast_cancer", "diagnosis", ["malignant", "benign"]),
    ),
    Table("passengers", "made, yes/no, categories and gaps, 1,000 rows", _passengers),
    Table("rings", "made, 3 classes with curved borders, 1,500 rows", _rings),
    Table("rare", "made, 0/1 with a 3 % minority, 4,000 rows", _rare),
    Table("wide", "made, 4 classes, 10,000 rows, 86 columns, gaps", _wide),
]


def measure(table: Table) -> dict[str, Any]:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score, log_loss
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from trainer.backend import backend_name
    from trainer.learn.training import train
    from trainer.params import TrainParams
    from trainer.tables.dataset import read_dataset

    dataset = read_dataset(table.make())
    assert dataset.task == "classification", table.name
    codes = dataset.target.astype(np.int64)
    k = len(dataset.classes or [])
    models = {
        "trainbot": None,
        "LR": lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)),
        "HGB": lambda: HistGradientBoostingClassifier(random_state=0),
    }
    proba = {name: np.full((len(codes), k), np.nan) for name in models}
    seconds = dict.fromkeys(models, 0.0)
    failed = 0
    splits = StratifiedKFold(FOLDS, shuffle=True, random_state=0).split(dataset.features, codes)
    for train_rows, test_rows in splits:
        part = replace(
            dataset, features=dataset.features[train_rows], target=dataset.target[train_rows]
        )
        started = time.perf_counter()
        try:
            result = train(part, TrainParams())
            got = result.predict_proba(dataset.features[test_rows])
            if not np.isfinite(got).all():
                raise ValueError("non-finite probabilities")
            proba["trainbot"][test_rows] = got
        except Exception as error:  # a failed fold is a result, not a crash of the benchmark
            failed += 1
            print(f"{table.name}: fold failed: {error!r}")
        seconds["trainbot"] += time.perf_counter() - started
        for name in ("LR", "HGB"):
            started = time.perf_counter()
            model = models[name]().fit(dataset.features[train_rows], codes[train_rows])  # type: ignore[misc]
            full = np.zeros((len(test_rows), k))
            full[:, model.classes_] = model.predict_proba(dataset.features[test_rows])
            proba[name][test_rows] = full
            seconds[name] += time.perf_counter() - started
    figures: dict[str, dict[str, float]] = {}
    for name, p in proba.items():
        done = np.isfinite(p).all(axis=1)
        guess = p[done].argmax(axis=1)
        figures[name] = {
            "accuracy": float(accuracy_score(codes[done], guess)),
            "log_loss": float(log_loss(codes[done], np.clip(p[done], 1e-15, 1), labels=range(k))),
            "macro_f1": float(f1_score(codes[done], guess, average="macro")),
            "seconds": round(seconds[name], 1),
        }
    ours, lr, hgb = figures["trainbot"], figures["LR"], figures["HGB"]
    bars = {
        "no failed fold": failed == 0,
        "accuracy ≥ LR − 1 pt": ours["accuracy"] >= lr["accuracy"] - 0.01,
        "accuracy ≥ HGB − 5 pt": ours["accuracy"] >= hgb["accuracy"] - 0.05,
        "log-loss ≤ 1.05 LR + 0.01": ours["log_loss"] <= 1.05 * lr["log_loss"] + 0.01,
    }
    return {
        "table": table.name,
        "what": table.what,
        "rows": len(codes),
        "classes": k,
        "minority": float(np.bincount(codes).min() / len(codes)),
        "failed_folds": failed,
        "figures": figures,
        "bars": bars,
        "backend": backend_name(),
    }


def markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        "| table | rows | classes | minority | model | accuracy | log-loss | macro F1 | s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for result in results:
        for name, f in result["figures"].items():
            lines.append(
                f"| {result['table']} | {result['rows']:,} | {result['classes']} | "
                f"{result['minority']:.1%} | {name} | {f['accuracy']:.3f} | {f['log_loss']:.4f} | "
                f"{f['macro_f1']:.3f} | {f['seconds']:.1f} |"
            )
    lines += ["", "| table | failed folds | bars |", "| --- | --- | --- |"]
    for result in results:
        passed = ", ".join(
            f"{bar}: {'pass' if ok else 'FAIL'}" for bar, ok in result["bars"].items()
        )
        lines.append(f"| {result['table']} | {result['failed_folds']} | {passed} |")
    return "\n".join(lines)


SECTION = """## Classifiers (issue 20): 5-fold stratified, against scikit-learn on the same folds

`python -m benchmarks.bench_classify`: each table read as an upload (`read_dataset`), split by
`StratifiedKFold(5, shuffle=True, random_state=0)`; on each training part trainbot's default
recipe (its own 5-fold cross-validation inside, then the choice of network or logistic line),
scikit-learn's `LogisticRegression` (standardised, C=1) and `HistGradientBoostingClassifier` fit
the same encoded features and predict the held-out part. Figures are pooled over the 5 held-out
parts. Bars: no failed fold; accuracy ≥ LR's − 1 point and ≥ HGB's − 5 points; log-loss ≤
1.05 × LR's + 0.01."""


def main(argv: list[str] | None = None) -> str:
    """Run the tables asked for (all by default); the RESULTS.md section, also printed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="table names (default: all)")
    parser.add_argument("--json", action="store_true", help="one JSON line per table")
    parser.add_argument(
        "--markdown", nargs="+", metavar="LOG", help="only print the table of earlier JSON lines"
    )
    args = parser.parse_args(argv or [])
    if args.markdown:
        lines = [
            line
            for path in args.markdown
            for line in Path(path).read_text(encoding="utf-8").splitlines()
        ]
        return markdown([json.loads(line) for line in lines if line.startswith("{")])
    chosen = [t for t in TABLES if not args.only or t.name in args.only]
    results = []
    for table in chosen:
        results.append(measure(table))
        if args.json:
            print(json.dumps(results[-1]), flush=True)
    backend = results[0]["backend"] if results else "?"
    return f"{SECTION}\n\nKeras backend {backend}.\n\n{markdown(results)}"


if __name__ == "__main__":
    print(main(sys.argv[1:]))
