"""Batched training through the real queue on a GPU host, against the same host's CPU.

N training jobs (N = 1, 64, 512, 2048 by default) of the reference table (examples/) and of a
mixed set of small real-looking tables (benchmarks/queue_tables.py: Russian headers, decimal
commas, Windows-1251) go into a real queue, a SQLite file through storage/, all at once, as N
chats sending /train together. The project's own worker loop (trainer.worker.loop.Worker.run,
in this process, on a thread) drains them with TRAINBOT_TRAIN_BATCH at the worker's default
for the device, on the JAX backend. Per round: jobs/s, the time to the last result, the
median job, the seconds spent fitting (the device) and packaging (model file, plot, summary: the
host's cores), the device memory JAX counts, and each job's out-of-fold MSE against the same
table and seed trained alone, held to the spread of seeds 0..S-1 trained alone. A sweep over
TRAINBOT_TRAIN_BATCH on the reference table says which default the GPU should have.

Each device runs in a subprocess of its own (JAX_PLATFORMS=cuda, then cpu; smaller sizes on the
CPU, flagged as such). No Telegram, no bot process. Prints one Markdown block (date, machine);
--out also writes it (and the figures as JSON) after every round, so a timeout keeps what
finished; --append adds it to a results file (benchmarks/RESULTS-gpu.md).

    KERAS_BACKEND=jax python benchmarks/bench_gpu_queue.py --out /tmp/gpu-queue.md
    python benchmarks/bench_gpu_queue.py --platforms cpu --sizes 1,4 --epochs 2   # a dry run

Wheels that must travel to a bare GPU host (it has JAX with CUDA, numpy, scipy, scikit-learn,
matplotlib, h5py, ml-dtypes, absl-py, rich, packaging, charset-normalizer, but no Keras, no
TensorFlow and no network): benchmarks/gpu_wheels.sh downloads them and names them;
benchmarks/README.md gives the one command that runs this there.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import describe  # noqa: E402

REFERENCE = ROOT / "examples" / "fahrenheit.csv"
GPU_SIZES = (1, 64, 512, 2048)
CPU_SIZES = (1, 64)
GPU_SWEEP = (32, 64, 128, 256, 512)
CPU_SWEEP = (8, 32)


def main(argv: list[str] | None = None) -> str:
    args = _parser().parse_args(argv)
    if args.child:
        return _child(args)
    started = time.perf_counter()
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
    header = _header(args)
    results: dict[str, dict[str, Any]] = {}
    for platform in args.platforms.split(","):
        results[platform] = _run_child(platform, args)
        _write(args.out, header, results)
    report = render(header, results)
    if args.append is not None:
        with args.append.open("a", encoding="utf-8") as results_file:
            results_file.write("\n" + report)
    print(f"done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return report


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--platforms", default="cuda,cpu", help="JAX platforms, in order")
    parser.add_argument("--sizes", default=_csv(GPU_SIZES), help="jobs per round on a GPU")
    parser.add_argument("--cpu-sizes", default=_csv(CPU_SIZES), help="jobs per round on the CPU")
    parser.add_argument("--sweep", default=_csv(GPU_SWEEP), help="batch sizes tried on a GPU")
    parser.add_argument("--cpu-sweep", default=_csv(CPU_SWEEP), help="batch sizes on the CPU")
    parser.add_argument("--sweep-jobs", type=int, default=512, help="jobs per sweep round (GPU)")
    parser.add_argument("--cpu-sweep-jobs", type=int, default=64, help="jobs per sweep round")
    parser.add_argument(
        "--train-batch", type=int, default=0, help="TRAINBOT_TRAIN_BATCH; 0: the worker's default"
    )
    parser.add_argument("--epochs", type=int, help="epochs= for every job (default: the recipe's)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds trained alone per table")
    parser.add_argument("--mixed-tables", type=int, default=6, help="tables in the mixed set")
    parser.add_argument(
        "--scoring", choices=("device", "host"), default="device",
        help="the rounds' scoring: on the device (trainer.learn.device_scoring) or as shipped",
    )  # fmt: skip
    parser.add_argument(
        "--ab-jobs", type=int, default=64,
        help="then this many reference jobs with the other scoring (0: none)",
    )  # fmt: skip
    parser.add_argument(
        "--program-cache", type=int, default=0,
        help="compiled networks a worker keeps (trainer.learn.programs); 0: as shipped",
    )  # fmt: skip
    parser.add_argument("--no-warmup", action="store_true", help="time compiling too")
    parser.add_argument(
        "--budget", type=float, default=150.0, help="seconds on a GPU; rounds past it are skipped"
    )
    parser.add_argument("--cpu-budget", type=float, default=60.0, help="seconds on the CPU")
    parser.add_argument("--out", type=Path, help="also write the Markdown (and .json) here")
    parser.add_argument("--append", type=Path, help="append the Markdown to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # internal: one device's side
    parser.add_argument("--partial", type=Path, help=argparse.SUPPRESS)
    return parser


def _csv(values: tuple[int, ...]) -> str:
    return ",".join(map(str, values))


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


def _child(args: argparse.Namespace) -> str:
    """One device's rounds (this process's JAX platform); its figures as one JSON line."""
    from benchmarks import queue_tables
    from benchmarks.queue_rounds import Options, TableSet, measure

    gpu = args.child != "cpu"
    options = Options(
        sizes=_ints(args.sizes if gpu else args.cpu_sizes),
        sweep=_ints(args.sweep if gpu else args.cpu_sweep),
        sweep_jobs=args.sweep_jobs if gpu else args.cpu_sweep_jobs,
        train_batch=args.train_batch,
        epochs=args.epochs,
        seeds=args.seeds,
        warmup=not args.no_warmup,
        budget=args.budget if gpu else args.cpu_budget,
        scoring=args.scoring,
        program_cache=args.program_cache,
        # On the CPU no more jobs than its largest round.
        ab_jobs=args.ab_jobs if gpu else min(args.ab_jobs, max(_ints(args.cpu_sizes), default=0)),
    )
    sets = [
        TableSet("reference", [queue_tables.reference(REFERENCE.read_bytes())]),
        TableSet("mixed", queue_tables.mixed()[: max(1, args.mixed_tables)]),
    ]

    def save(figures: dict[str, Any]) -> None:
        if args.partial is not None:
            args.partial.write_text(json.dumps(figures), encoding="utf-8")

    figures = measure(sets, options, save)
    save(figures)
    return json.dumps(figures)


def _run_child(platform: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run one device's side in a fresh process; what it measured, even if it died midway."""
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": platform}
    forwarded = _forwarded(args)
    # Past its budget a device finishes the round in hand: a generous limit for a hung one.
    limit = (args.cpu_budget if platform == "cpu" else args.budget) * 2 + 300
    with tempfile.TemporaryDirectory() as folder:
        # Beside --out when given: if the whole command is killed, the figures so far stay.
        partial = Path(folder) / "partial.json"
        if args.out is not None:
            partial = args.out.with_suffix(f".{platform}.json")
        # A run without site-packages (benchmarks/gpu_wheels_check.py) keeps its child so.
        python = [sys.executable, "-S"] if sys.flags.no_site else [sys.executable]
        command = [*python, __file__, *forwarded, "--child", platform, "--partial", str(partial)]
        try:
            completed = subprocess.run(
                command, env=env, capture_output=True, text=True, check=False,
                timeout=limit,
            )  # fmt: skip
            error = completed.stderr.strip()[-3000:] if completed.returncode else None
        except subprocess.TimeoutExpired:
            error = f"stopped after {limit:.0f} s"
        figures = json.loads(partial.read_text(encoding="utf-8")) if partial.exists() else {}
    if error is not None:
        figures["error"] = error
    return figures


def _forwarded(args: argparse.Namespace) -> list[str]:
    options = {
        "--sizes": args.sizes, "--cpu-sizes": args.cpu_sizes, "--sweep": args.sweep,
        "--cpu-sweep": args.cpu_sweep, "--sweep-jobs": args.sweep_jobs,
        "--cpu-sweep-jobs": args.cpu_sweep_jobs, "--train-batch": args.train_batch,
        "--seeds": args.seeds, "--mixed-tables": args.mixed_tables, "--budget": args.budget,
        "--cpu-budget": args.cpu_budget,
        "--scoring": args.scoring, "--ab-jobs": args.ab_jobs,
        "--program-cache": args.program_cache,
    }  # fmt: skip
    forwarded = [f"{name}={value}" for name, value in options.items()]
    if args.epochs is not None:
        forwarded.append(f"--epochs={args.epochs}")
    if args.no_warmup:
        forwarded.append("--no-warmup")
    return forwarded


def _header(args: argparse.Namespace) -> dict[str, str]:
    return {
        "date": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "machine": describe(),
        "gpu": _gpu_name(),
        "epochs": "the recipe's" if args.epochs is None else str(args.epochs),
        "seeds": str(args.seeds),
    }


def _gpu_name() -> str:
    try:
        completed = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "none found (nvidia-smi failed)"
    return completed.stdout.strip().replace(", ", ", driver ")


def _write(out: Path | None, header: dict[str, str], results: dict[str, dict[str, Any]]) -> None:
    if out is None:
        return
    out.write_text(render(header, results), encoding="utf-8")
    out.with_suffix(".json").write_text(
        json.dumps({"header": header, "results": results}, indent=1), encoding="utf-8"
    )


def render(header: dict[str, str], results: dict[str, dict[str, Any]]) -> str:
    from benchmarks.queue_report import render_device

    lines = [
        "## Batched training through the queue (JAX backend)",
        "",
        f"- date: {header['date']}",
        f"- machine: {header['machine']}; GPU: {header['gpu']}",
        "- N jobs enqueued at once into a SQLite file (storage/), one chat each, drained by the"
        " project's worker loop in-process; jobs/s and the last result count from the worker's"
        " start, compiling done beforehand by a warm-up round of one batch (its time shown)",
        '- scoring: where each round\'s held-out errors are computed, "host" as shipped'
        ' (trainer.learn.rounds: weights to the host, NumPy member by member) or "device"'
        " (trainer.learn.device_scoring: one compiled call; proposed, swapped in for this run)",
        f"- epochs: {header['epochs']}; quality: each job's out-of-fold MSE against the same"
        f" table and seed trained alone, within the spread of seeds 0..{int(header['seeds']) - 1}"
        " trained alone",
        "",
    ]
    for platform, figures in results.items():
        lines += render_device(platform, figures)
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    sys.stdout.write(main())
