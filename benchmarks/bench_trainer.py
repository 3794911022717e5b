"""Trainer benchmark: accuracy bars of the default recipe and its speed against the tutorial's.

Each Keras backend runs in its own subprocess (KERAS_BACKEND is fixed at import), which prints
one JSON object; the parent turns both into a markdown section.

    .venv/bin/python benchmarks/bench_trainer.py            # both backends, prints markdown
    .venv/bin/python benchmarks/bench_trainer.py --backends jax
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "examples" / "fahrenheit.csv"
SEEDS = (0, 1, 2, 3, 4)
TRUTH_AT_200 = 93.33

# The bars the default recipe must meet (see the trainer brief).
MAX_ERROR_AT_200 = 0.01
MAX_MSE_REFERENCE = 0.01
MAX_NOISY_RATIO = 1.05  # network holdout MSE / least-squares holdout MSE
MIN_CURVE_GAIN = 10.0  # line MSE / network MSE
MAX_SPEED_RATIO = {"tensorflow": 0.05, "jax": 0.2}  # default fit / tutorial fit
MAX_BIG_SECONDS = 5.0
MAX_WARM_FIT_SECONDS = {"tensorflow": 1.5, "jax": 1.0}  # reference data and diabetes
BIG_ROWS = 100_000


def measure(backend: str) -> dict[str, Any]:
    """Run every check on the current Keras backend (call with KERAS_BACKEND already set)."""
    sys.path.insert(0, str(ROOT))
    from trainer import examples
    from trainer.backend import device_description
    from trainer.judge.lines import fit_linear
    from trainer.judge.metrics import regression_metrics
    from trainer.learn.training import train
    from trainer.params import TrainParams
    from trainer.tables.dataset import read_dataset

    results: dict[str, Any] = {"backend": backend}
    reference = read_dataset(REFERENCE.read_bytes())
    grid = np.arange(1000.0)[:, None]
    truth = (grid[:, 0] - 32) * 5 / 9
    runs = []
    for seed in SEEDS:
        result = train(reference, TrainParams(seed=seed))
        predicted = result.predict(grid)
        runs.append(
            {
                "seed": seed,
                "error_at_200": abs(float(predicted[200]) - TRUTH_AT_200),
                "mse": float(np.mean((predicted - truth) ** 2)),
                "fit_seconds": result.fit_seconds,
                "epochs": result.passes_run,
            }
        )
    results["reference"] = runs
    results["device"] = device_description()

    tutorial = train(reference, TrainParams(preset="tutorial", seed=0))
    tutorial_prediction = float(tutorial.predict(np.array([[200.0]]))[0])
    results["tutorial"] = {
        "fit_seconds": tutorial.fit_seconds,
        "error_at_200": abs(tutorial_prediction - TRUTH_AT_200),
    }
    # Time the default again right after the tutorial so both see the same machine load.
    results["default_after_tutorial"] = train(reference, TrainParams(seed=0)).fit_seconds

    noisy = []
    for seed in SEEDS:
        data = read_dataset(examples.noisy_linear_csv(1000, seed=seed))
        holdout = read_dataset(examples.noisy_linear_csv(2000, seed=1000 + seed))
        result = train(data, TrainParams(seed=seed))
        line = fit_linear(data.features, data.target)
        network_mse = regression_metrics(holdout.target, result.predict(holdout.features))["mse"]
        line_mse = regression_metrics(holdout.target, line.predict(holdout.features))["mse"]
        noisy.append({"seed": seed, "ratio": network_mse / line_mse, "line_mse": line_mse})
    results["noisy_linear"] = noisy

    curves: dict[str, list[dict[str, float]]] = {}
    for kind in ("square", "sine"):
        curves[kind] = []
        for seed in SEEDS:
            data = read_dataset(examples.curve_csv(kind, 1000, seed=seed))
            holdout = read_dataset(examples.curve_csv(kind, 2000, seed=1000 + seed))
            result = train(data, TrainParams(seed=seed))
            line = fit_linear(data.features, data.target)
            network_mse = regression_metrics(holdout.target, result.predict(holdout.features))[
                "mse"
            ]
            line_mse = regression_metrics(holdout.target, line.predict(holdout.features))["mse"]
            curves[kind].append({"seed": seed, "gain": line_mse / max(network_mse, 1e-300)})
    results["curves"] = curves

    from sklearn.datasets import load_diabetes

    from trainer.tables.dataset import Dataset

    diabetes = load_diabetes(as_frame=True, scaled=False)
    table = Dataset(
        diabetes.data.to_numpy(float),
        diabetes.target.to_numpy(float),
        list(diabetes.data.columns),
        "progression",
    )
    # The first fit of a shape compiles; a worker that has trained before is warm.
    fits = [train(table, TrainParams(seed=seed)).fit_seconds for seed in (0, 1, 2)]
    results["diabetes_warm_fit_seconds"] = statistics.median(fits[1:])

    big_bytes = examples.big_csv(BIG_ROWS)
    started = time.perf_counter()
    big = read_dataset(big_bytes)
    parse_seconds = time.perf_counter() - started
    result = train(big, TrainParams(seed=0))
    results["big"] = {
        "rows": BIG_ROWS,
        "bytes": len(big_bytes),
        "parse_seconds": parse_seconds,
        "fit_seconds": result.fit_seconds,
        "total_seconds": time.perf_counter() - started,
        "epochs": result.passes_run,
        "validation_r2": (result.metrics["validation"] or {}).get("r2"),
    }
    return results


def machine() -> str:
    """Platform, CPU model and core count."""
    model = platform.processor() or "unknown cpu"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{platform.platform()}, {model}, {os.cpu_count()} cores"


def run_backend(
    backend: str, timeout: float = 600, extra_env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Measure one backend in a fresh subprocess (``extra_env``: e.g. JAX_PLATFORMS)."""
    env = {"KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3", **(extra_env or {})}
    return {"backend": backend, **json_subprocess([__file__, "--worker", backend], env, timeout)}


def json_subprocess(args: list[str], env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Run ``python ARGS`` with ``env`` added; its last stdout line as JSON, or {"error": ...}."""
    completed = subprocess.run(
        [sys.executable, *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if completed.returncode != 0:
        return {"error": completed.stderr.strip()[-2000:]}
    return json.loads(completed.stdout.strip().splitlines()[-1])


def render(results: list[dict[str, Any]]) -> str:
    """The markdown section for the results of each backend."""
    lines = ["## Trainer", "", f"Machine: {machine()}.", ""]
    for res in results:
        lines += _render_backend(res)
    return "\n".join(lines).rstrip() + "\n"


def _render_backend(res: dict[str, Any]) -> list[str]:
    backend = res["backend"]
    if "error" in res:
        return [f"### {backend}", "", "Failed:", "", "```", res["error"], "```", ""]
    ref = res["reference"]
    worst_error = max(run["error_at_200"] for run in ref)
    worst_mse = max(run["mse"] for run in ref)
    default_fit = statistics.median(
        [run["fit_seconds"] for run in ref] + [res["default_after_tutorial"]]
    )
    tutorial_fit = res["tutorial"]["fit_seconds"]
    ratio = default_fit / tutorial_fit
    noisy = max(run["ratio"] for run in res["noisy_linear"])
    gains = {kind: min(run["gain"] for run in runs) for kind, runs in res["curves"].items()}
    big = res["big"]

    def mark(ok: bool) -> str:
        return "pass" if ok else "FAIL"

    rows = [
        (
            f"reference \\|ŷ(200) − 93.33\\|, worst of {len(ref)} seeds",
            f"{worst_error:.4f}",
            f"≤ {MAX_ERROR_AT_200}",
            mark(worst_error <= MAX_ERROR_AT_200),
        ),
        (
            "reference MSE over x = 0..999, worst seed",
            f"{worst_mse:.5f}",
            f"≤ {MAX_MSE_REFERENCE}",
            mark(worst_mse <= MAX_MSE_REFERENCE),
        ),
        (
            "noisy line: holdout MSE / least squares, worst seed",
            f"{noisy:.3f}",
            f"≤ {MAX_NOISY_RATIO}",
            mark(noisy <= MAX_NOISY_RATIO),
        ),
    ]
    for kind, gain in gains.items():
        rows.append(
            (
                f"y = {'x²' if kind == 'square' else 'sin x'}: line MSE / network MSE, worst seed",
                f"{gain:.0f}x",
                f"≥ {MIN_CURVE_GAIN:.0f}x",
                mark(gain >= MIN_CURVE_GAIN),
            )
        )
    limit = MAX_SPEED_RATIO.get(backend, 1.0)
    rows += [
        (
            "tutorial recipe fit (seed 0); its \\|ŷ(200) − 93.33\\|",
            f"{tutorial_fit:.2f} s; {res['tutorial']['error_at_200']:.2f}",
            "",
            "",
        ),
        ("default recipe fit, median of 6 runs", f"{default_fit:.2f} s", "", ""),
        ("default / tutorial fit time", f"{ratio:.3f}", f"≤ {limit}", mark(ratio <= limit)),
    ]
    warm_limit = MAX_WARM_FIT_SECONDS.get(backend, 1.5)
    warm_reference = statistics.median([run["fit_seconds"] for run in ref[1:]])
    for name, seconds in (
        ("reference data", warm_reference),
        ("diabetes (442 × 10)", res["diabetes_warm_fit_seconds"]),
    ):
        rows.append(
            (
                f"warm worker's fit, {name}, median",
                f"{seconds:.2f} s",
                f"≤ {warm_limit} s",
                mark(seconds <= warm_limit),
            )
        )
    rows += [
        (
            f"{big['rows']:,}-row CSV ({big['bytes'] / 1e6:.1f} MB): parse + fit",
            f"{big['parse_seconds']:.2f} s + {big['fit_seconds']:.2f} s",
            f"fit ≤ {MAX_BIG_SECONDS:.0f} s",
            mark(big["fit_seconds"] <= MAX_BIG_SECONDS),
        ),
    ]
    out = [
        f"### Backend {backend} ({res['device']})",
        "",
        "| check | measured | bar | |",
        "| --- | --- | --- | --- |",
    ]
    out += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    out.append("")
    return out


def load_average() -> str:
    """The 1-minute load average: timings on a shared machine need it as context."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "unknown"


def run(report: Callable[[str], None], backends: tuple[str, ...] = ("tensorflow", "jax")) -> None:
    """Measure each backend and hand the markdown section to ``report``."""
    before = load_average()
    results = [run_backend(backend) for backend in backends]
    section = render(results)
    note = (
        f"Load average (1 min) before: {before}, after: {load_average()}. Speed ratios compare"
        " runs made in the same process, minutes apart.\n"
    )
    report(section + "\n" + note)


def main(backends: tuple[str, ...] = ("tensorflow", "jax")) -> str:
    """Measure each backend and return the markdown section."""
    sections: list[str] = []
    run(sections.append, backends)
    return "".join(sections)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worker", help="measure this backend and print JSON (internal)")
    parser.add_argument("--backends", default="tensorflow,jax")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(args.worker)))
    else:
        print(main(tuple(args.backends.split(","))))
