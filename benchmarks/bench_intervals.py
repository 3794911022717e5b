"""How sure, and what drives it: the 90 % prediction interval on fresh rows, each input's
importance, and what both cost.

Each table is drawn (or, for scikit-learn's diabetes, split) into training rows and fresh rows
from the same distribution. The default recipe trains on the first; the interval it stores
with the model is applied to the second: the share of fresh rows inside (bar: 85 % to 95 %)
and its mean width against the ideal width where the noise is known (2 × 1.645 × the noise's
standard deviation, row by row; bar: ≤ 1.6×). Importance probes: the strong input must rank
first, a pure-noise input get under 10 % of the total. The cost of both, on 10,000 rows × 50
inputs, is compared with the fit they follow (bar: ≤ 10 %).

    python -m benchmarks.bench_intervals            # both backends, in subprocesses
    python -m benchmarks.bench_intervals --backend jax --json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.bench_trainer import json_subprocess
from benchmarks.machine import describe

SEEDS = (0, 1, 2)
FRESH = 5000
IDEAL = 2 * 1.6448536269514722  # the width of a normal's central 90 %, in standard deviations


@dataclass(frozen=True)
class Draw:
    """Training rows and fresh rows of one table, with the noise's sd of each fresh row (None
    when it is not known)."""

    x: np.ndarray
    y: np.ndarray
    fresh_x: np.ndarray
    fresh_y: np.ndarray
    fresh_sd: np.ndarray | None
    names: list[str]
    strong: str | None  # the input that must rank first
    noise: list[str]  # inputs that carry nothing


Table = Callable[[int], Draw]


def _made(rows: int, curve: bool, growing: bool) -> Table:
    """y from a strong input (curved or straight), a weaker straight one and a pure-noise one;
    the noise constant (sd 0.5) or growing along the weaker input (sd 0.1 to 1.7)."""

    def draw(seed: int) -> Draw:
        rng = np.random.default_rng(seed)
        x = rng.uniform(-2, 2, (rows + FRESH, 3))
        signal = (2 * np.sin(2 * x[:, 0]) if curve else 2 * x[:, 0]) + x[:, 1]
        sd = 0.1 + 0.4 * (x[:, 1] + 2) if growing else np.full(len(x), 0.5)
        y = signal + rng.normal(size=len(x)) * sd
        return Draw(
            x[:rows], y[:rows], x[rows:], y[rows:], sd[rows:],
            ["strong", "weak", "noise"], "strong", ["noise"],
        )  # fmt: skip

    return draw


def _friedman(seed: int) -> Draw:
    from sklearn.datasets import make_friedman1

    x, y = make_friedman1(n_samples=500 + FRESH, noise=1.0, random_state=seed)
    names = [f"x{i}" for i in range(1, 11)]
    # x4 carries the largest term (10 x4); x6 to x10 are pure noise.
    return Draw(x[:500], y[:500], x[500:], y[500:], np.ones(FRESH), names, "x4", names[5:])


def _diabetes(seed: int) -> Draw:
    from sklearn.datasets import load_diabetes

    data = load_diabetes(scaled=False)
    order = np.random.default_rng(seed).permutation(len(data.target))
    train, fresh = order[:330], order[330:]
    names = list(data.feature_names)
    x, y = data.data.astype(float), data.target.astype(float)
    return Draw(x[train], y[train], x[fresh], y[fresh], None, names, None, [])


# Per table: how to draw it, the training options, and the seeds. Diabetes has only 112 fresh
# rows a split (its share inside moves by ±6 points from sampling alone), so it gets 20 splits.
TABLES: dict[str, tuple[Table, dict[str, Any], tuple[int, ...]]] = {
    "curve, constant noise, 200 rows": (_made(200, True, False), {}, SEEDS),
    "curve, constant noise, 1,000 rows": (_made(1000, True, False), {}, SEEDS),
    "curve, noise grows with an input, 300 rows": (_made(300, True, True), {}, SEEDS),
    "curve, noise grows with an input, 2,000 rows": (_made(2000, True, True), {}, SEEDS),
    "line, noise grows with an input, 500 rows": (_made(500, False, True), {}, SEEDS),
    "Friedman #1 (sd 1), 500 rows": (_friedman, {}, SEEDS),
    "diabetes, 330 rows (112 fresh), 20 splits": (_diabetes, {}, tuple(range(20))),
    "tutorial preset (20 % held out), 1,000 rows": (
        _made(1000, True, False),
        {"preset": "tutorial", "validation_split": 0.2, "epochs": 200},
        SEEDS,
    ),
}


def measure() -> dict[str, Any]:
    from trainer.backend import backend_name
    from trainer.judge.intervals import IntervalModel
    from trainer.learn.training import train
    from trainer.params import TrainParams
    from trainer.tables.dataset import Dataset

    rows = []
    for name, (table, options, seeds) in TABLES.items():
        runs = []
        for seed in seeds:
            draw = table(seed)
            dataset = Dataset(draw.x, draw.y, draw.names, "y")
            result = train(dataset, TrainParams(seed=seed, **options))
            interval = IntervalModel.from_dict(result.scaling.get("interval"))
            assert interval is not None, name
            low, high = interval.bounds(draw.fresh_x, result.predict(draw.fresh_x))
            inside = (draw.fresh_y >= low) & (draw.fresh_y <= high)
            run: dict[str, Any] = {
                "inside": float(inside.mean()),
                "kind": result.model_kind,
                "varies": interval.varies,
                "importance": result.importance or {},
            }
            if draw.fresh_sd is not None:
                run["width"] = float(np.mean(high - low) / np.mean(IDEAL * draw.fresh_sd))
                wild = draw.fresh_sd >= np.quantile(draw.fresh_sd, 0.75)
                run["wild"] = float(inside[wild].mean()) if np.ptp(draw.fresh_sd) > 0 else None
            runs.append(run)
        rows.append({"table": name, "strong": draw.strong, "noise": draw.noise, "runs": runs})
    return {"backend": backend_name(), "tables": rows, "cost": _cost()}


def _cost() -> dict[str, float]:
    """Seconds of the fit and of the interval and importance after it, 10,000 rows × 50."""
    import trainer.learn.crossval as crossval
    from trainer.learn.training import train
    from trainer.params import TrainParams
    from trainer.tables.dataset import Dataset

    rng = np.random.default_rng(0)
    x = rng.normal(size=(10_000, 50))
    y = 2 * np.sin(x[:, 0]) + x[:, 1] + 0.5 * x[:, 2] ** 2 + rng.normal(size=len(x)) * 0.5
    spent: dict[str, float] = {}
    explain = crossval.explain

    def timed(*args: Any, **kwargs: Any) -> None:
        started = time.perf_counter()
        explain(*args, **kwargs)
        spent["explain"] = time.perf_counter() - started

    crossval.explain = timed
    try:
        dataset = Dataset(x, y, [f"x{i}" for i in range(50)], "y")
        train(dataset, TrainParams(seed=1, epochs=2))  # compiles this shape's program
        result = train(dataset, TrainParams(seed=0))
    finally:
        crossval.explain = explain
    return {"fit": result.fit_seconds, "explain": spent["explain"]}


def render(results: list[dict[str, Any]]) -> str:
    lines = [
        "## Prediction intervals and importance (fresh rows)",
        "",
        f"Seeds {', '.join(map(str, SEEDS))} per table (data and training). Inside: the share "
        "of fresh rows inside their 90 % interval, mean (lowest–highest), bar 85 %–95 % on the "
        "mean; width: "
        "mean width ÷ the ideal 2 × 1.645 × the noise's sd, bar ≤ 1.6; noisiest quarter: the "
        "share inside among the quarter of fresh rows with the most noise; varies: runs whose "
        "width varies with the inputs; importance: the strong input's rank and the largest share "
        "of a pure-noise input (bar: first, < 10 %).",
    ]
    for result in results:
        if "error" in result:
            lines += ["", f"A backend failed: {result['error'][-500:]}"]
            continue
        lines += [
            "",
            f"### Backend {result['backend']}",
            "",
            "| table | model | inside | width ÷ ideal | noisiest quarter | varies | importance |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        lines += [_row(table) for table in result["tables"]]
        cost = result["cost"]
        share = cost["explain"] / cost["fit"]
        lines += [
            "",
            f"Cost on 10,000 rows × 50 inputs: fit {cost['fit']:.1f} s, interval and importance "
            f"{cost['explain']:.2f} s after it: {share:.1%} of the fit (bar ≤ 10 %: "
            f"{'pass' if share <= 0.10 else 'FAIL'}).",
        ]
    return "\n".join(lines)


def _row(table: dict[str, Any]) -> str:
    runs = table["runs"]
    inside = [run["inside"] for run in runs]
    ok = 0.85 <= np.mean(inside) <= 0.95
    cells = [
        table["table"],
        "/".join(sorted({run["kind"] for run in runs})),
        f"{np.mean(inside):.1%} ({min(inside):.1%}–{max(inside):.1%}) {'pass' if ok else 'FAIL'}",
    ]
    if "width" in runs[0]:
        widths = [run["width"] for run in runs]
        verdict = "pass" if max(widths) <= 1.6 else "FAIL"
        cells.append(f"{np.mean(widths):.2f} (≤ {max(widths):.2f}) {verdict}")
    else:
        cells.append("noise unknown")
    wild = [run.get("wild") for run in runs]
    cells.append(f"{np.mean(wild):.1%}" if all(w is not None for w in wild) else "–")
    cells.append(f"{sum(run['varies'] for run in runs)}/{len(runs)}")
    cells.append(_importance(table))
    return "| " + " | ".join(cells) + " |"


def _importance(table: dict[str, Any]) -> str:
    runs = table["runs"]
    if table["strong"] is None:
        firsts = [next(iter(run["importance"])) for run in runs]
        counted = sorted({name: firsts.count(name) for name in firsts}.items(), key=lambda p: -p[1])
        return "first: " + ", ".join(f"{name} {count}×" for name, count in counted)
    ranks = [list(run["importance"]).index(table["strong"]) + 1 for run in runs]
    noise = max(run["importance"][name] for run in runs for name in table["noise"])
    verdict = "pass" if set(ranks) == {1} and noise < 0.1 else "FAIL"
    return f"strong ranks {'/'.join(map(str, ranks))}; noise ≤ {noise:.1%} {verdict}"


def main(backends: tuple[str, ...] = ("jax", "tensorflow")) -> str:
    results = [
        json_subprocess(
            ["-m", "benchmarks.bench_intervals", "--json"],
            {"KERAS_BACKEND": backend},
            timeout=3600,
        )
        for backend in backends
    ]
    load = os.getloadavg()[0]
    machine = f"Machine: {describe()}; load average (1 min) at the end: {load:.2f}."
    return f"{render(results)}\n\n{machine}"


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
