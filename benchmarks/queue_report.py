"""Markdown of one device's figures from benchmarks/bench_gpu_queue.py."""

from __future__ import annotations

import math
from typing import Any

GOAL_JOBS_PER_S = 100.0
# The default a sweep argues for: the smallest batch within this share of the best jobs/s (a
# smaller batch claims less of the queue at once, so another worker can share the burst).
NEAR_BEST = 0.9


def render_device(platform: str, figures: dict[str, Any]) -> list[str]:
    device = figures.get("device", platform)
    title = f"### {device} (JAX_PLATFORMS={platform})"
    if platform == "cpu":
        title += " — the host's CPU, smaller sizes"
    lines = [title, ""]
    if "error" in figures:
        lines += ["Failed (what finished before is below):", "", "```", figures["error"], "```", ""]
    if not figures.get("rounds") and not figures.get("alone"):
        return lines
    versions = figures.get("versions", {})
    lines += [
        f"jax {versions.get('jax', '?')}, keras {versions.get('keras', '?')}; the worker's"
        f" default TRAINBOT_TRAIN_BATCH here: {figures.get('default_batch', '?')}; rounds ran"
        f" with {figures.get('train_batch', '?')}; compiled networks kept:"
        f' {figures.get("program_cache", "?")} (a round\'s "compiled" counts those built again).',
        "",
        "| jobs | tables | batch | scoring | warm-up (programs compiled) | last result | jobs/s"
        " | median job | train (stacked fit; its scoring) | package | device memory peak so far"
        " | within seed spread (identical) | worst \\|ŷ(200) − 93.33\\| |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines += [_round_row(r) for r in figures.get("rounds", [])]
    best = max((r["jobs_per_s"] for r in figures.get("rounds", []) if "jobs_per_s" in r),
               default=0.0)  # fmt: skip
    if platform != "cpu" and best:
        verdict = "pass" if best >= GOAL_JOBS_PER_S else "FAIL"
        lines += ["", f"Goal ≥ {GOAL_JOBS_PER_S:.0f} queued jobs/s: best {best:.1f} — {verdict}."]
    lines += _failures(figures.get("rounds", []) + figures.get("sweep", []))
    lines += _sweep(figures.get("sweep", []))
    lines += _alone(figures.get("alone", {}))
    return [*lines, ""]


def _round_row(r: dict[str, Any]) -> str:
    if r.get("skipped"):
        return (
            f"| {r['jobs']} | {r['tables']} | | | skipped: over the time budget | | | | | | | | |"
        )
    warm = "—" if r.get("warmup_s") is None else f"{r['warmup_s']:.2f} s ({r['warmup_compiled']})"
    recompiled = f" ({r['compiled']} compiled)" if r.get("compiled") else ""
    at_200 = "" if r.get("worst_at_200") is None else f"{r['worst_at_200']:.4f}"
    return (
        f"| {r['jobs']} | {r['tables']} | {r['batch']} | {r.get('scoring', 'host')} | {warm}"
        f" | {r['last_s']:.2f} s{recompiled}"
        f" | {r['jobs_per_s']:.1f} | {_seconds(r.get('p50_s'))} | {_train(r)}"
        f" | {r['package_s']:.2f} s | {_memory(r.get('memory'))} | {_quality(r)} | {at_200} |"
    )


def _train(r: dict[str, Any]) -> str:
    return f"{r['train_s']:.2f} s ({r['stacked_s']:.2f}; {r['scoring_s']:.2f})"


def _quality(r: dict[str, Any]) -> str:
    text = f"{r['within_spread']}/{r['jobs']} ({r['identical']})"
    worst = r.get("worst_gap_in_spreads", 0.0)
    if worst and math.isfinite(worst):
        text += f", worst gap {worst:.2f} spreads"
    elif worst:
        text += ", a gap where seeds agree"
    return text


def _mse(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"


def _memory(memory: dict[str, float] | None) -> str:
    if not memory or "peak_bytes_in_use" not in memory:
        return "not counted"
    return f"{memory['peak_bytes_in_use']:,.0f} MiB"


def _failures(rounds: list[dict[str, Any]]) -> list[str]:
    failed = [r for r in rounds if r.get("failed_count")]
    if not failed:
        return []
    lines = ["", "Jobs that failed:"]
    for r in failed:
        lines.append(f"- {r['jobs']} {r['tables']}: {r['failed_count']} ({'; '.join(r['failed'])})")
    return lines


def _sweep(sweep: list[dict[str, Any]]) -> list[str]:
    """The batch sizes tried on the reference table, and the default they argue for."""
    ran = [r for r in sweep if not r.get("skipped")]
    if not sweep:
        return []
    lines = [
        "",
        "TRAINBOT_TRAIN_BATCH over the same burst of reference jobs:",
        "",
        "| batch | jobs | last result | jobs/s | train (stacked fit; its scoring) | package"
        " | device memory peak so far |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in sweep:
        if r.get("skipped"):
            lines.append(f"| {r['batch']} | {r['jobs']} | skipped: over the time budget | | | | |")
            continue
        lines.append(
            f"| {r['batch']} | {r['jobs']} | {r['last_s']:.2f} s | {r['jobs_per_s']:.1f} |"
            f" {_train(r)} | {r['package_s']:.2f} s | {_memory(r.get('memory'))} |"
        )
    if ran:
        lines += ["", f"Default it argues for: {choose_batch(ran)} (the smallest batch within"
                  f" {NEAR_BEST:.0%} of the best jobs/s)."]  # fmt: skip
    return lines


def choose_batch(sweep: list[dict[str, Any]]) -> int:
    """The smallest batch whose jobs/s is within NEAR_BEST of the best one's."""
    best = max(r["jobs_per_s"] for r in sweep)
    return min(r["batch"] for r in sweep if r["jobs_per_s"] >= NEAR_BEST * best)


def _alone(alone: dict[str, Any]) -> list[str]:
    if not alone:
        return []
    lines = [
        "",
        "Each table trained alone (no queue): out-of-fold MSE per seed, and their spread:",
        "",
        "| table | rows × inputs | out-of-fold MSE by seed | spread |",
        "| --- | --- | --- | --- |",
    ]
    for name, table in alone.items():
        mses = ", ".join(_mse(run["mse"]) for run in table["runs"])
        lines.append(f"| {name} | {table['shape']} | {mses} | {table['spread']:.3g} |")
    return lines
