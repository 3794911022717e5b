"""The GPU host's queue benchmark, end to end on the CPU at tiny sizes.

A GPU host is lent for minutes at a time: this runs the very script it will run (a child
process per device, the real worker draining a real SQLite queue, jobs trained alone to
compare with) so that those minutes are not lost to a typo.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "bench_gpu_queue.py"


def test_the_gpu_queue_benchmark_runs_end_to_end_on_the_cpu(tmp_path: Path) -> None:
    out, results = tmp_path / "gpu-queue.md", tmp_path / "RESULTS-gpu.md"
    results.write_text("# earlier results\n", encoding="utf-8")
    completed = subprocess.run(
        [
            sys.executable, str(SCRIPT), "--platforms", "cpu", "--cpu-sizes", "1,4",
            "--cpu-sweep", "4", "--cpu-sweep-jobs", "4", "--ab-jobs", "4", "--epochs", "1",
            "--seeds", "2", "--mixed-tables", "1", "--no-warmup", "--cpu-budget", "1000",
            "--out", str(out),
            "--append", str(results),
        ],
        env={**os.environ, "PYTHONPATH": str(ROOT), "TRAINBOT_PLOT_PROCESSES": "1"},
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    block = completed.stdout
    assert block.startswith("## Batched training through the queue")
    assert "machine: " in block and "Failed" not in block and "Jobs that failed" not in block
    for row in ("| 1 | reference |", "| 4 | reference |", "| 1 | mixed |", "| 4 | mixed |"):
        assert row in block
    # The rounds scored on the device, and one burst again as shipped to compare.
    assert "| 4 | reference | 8 | device |" in block and "| 4 | reference | 8 | host |" in block
    assert "Default it argues for: 4" in block
    assert out.read_text(encoding="utf-8") == block
    assert results.read_text(encoding="utf-8") == "# earlier results\n\n" + block

    figures = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))["results"]["cpu"]
    assert figures["device"] == "cpu"
    for measured in figures["rounds"] + figures["sweep"]:
        assert measured["succeeded"] == measured["jobs"]
        assert measured["jobs_per_s"] > 0
    reference = figures["alone"]["reference (°F → °C)"]
    assert len(reference["runs"]) == 2
    assert all(run["at_200"] is not None for run in reference["runs"])
