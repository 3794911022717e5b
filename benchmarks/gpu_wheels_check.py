"""Checks here, before a GPU host is lent, that the wheels of benchmarks/gpu_wheels.sh are all the
worker needs there: a job drains through the real worker with only the GPU image's packages
(KINDS.md's list, taken from this environment) and the wheels on the path.

    benchmarks/gpu_wheels.sh                       # once: .whl/ for the host's Python
    GPU_PYTHON_VERSION=3.11 WHEEL_DIR=/tmp/whl benchmarks/gpu_wheels.sh   # this Python's
    .venv/bin/python benchmarks/gpu_wheels_check.py /tmp/whl

It installs the wheels into a folder, links the image's packages from this environment into
another, and runs a two-job queue, then the benchmark at tiny sizes, in `python -S` (no
site-packages) with those two alone. Any module they import that neither holds is named by
the ImportError.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# On the lent H200's image (KINDS.md, 2026-11-17), among what the worker could import.
IMAGE = [
    "absl-py",
    "certifi",
    "charset-normalizer",
    "cloudpickle",
    "contourpy",
    "cycler",
    "fonttools",
    "h5py",
    "idna",
    "jax",
    "jaxlib",
    "joblib",
    "kiwisolver",
    "markupsafe",
    "matplotlib",
    "ml-dtypes",
    "narwhals",
    "numpy",
    "opt-einsum",
    "packaging",
    "pillow",
    "pygments",
    "pyparsing",
    "python-dateutil",
    "requests",
    "rich",
    "scikit-learn",
    "scipy",
    "six",
    "threadpoolctl",
    "typing-extensions",
    "urllib3",
    "markdown-it-py",
    "mdurl",
]
DRAIN = """
import os, tempfile
os.environ.update(KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
from storage.models import JobKind
from storage.records import ChatRef, UserRef
from storage.store import Store
from trainbot.settings import Settings
from trainer import examples
from trainer.params import TrainParams
from trainer.worker.loop import Worker
store = Store.open(f"sqlite:///{tempfile.mkdtemp()}/q.sqlite3")
for chat in (1, 2):
    store.records.remember(ChatRef(chat), UserRef(1))
    data = store.records.save_dataset(chat, user_id=1, filename="t.csv",
                                      content=examples.fahrenheit_csv(100), n_rows=0, columns=[])
    store.queue.enqueue(JobKind.TRAIN, chat_id=chat, user_id=1, dataset_id=data.id,
                        params=TrainParams(epochs=1).to_dict())
worker = Worker(store, Settings.from_env({"TRAINBOT_PLOT_PROCESSES": "1"}, env_file=None))
while worker.run_once():
    pass
counts = store.queue.counts()
assert counts.succeeded == 2, counts
import sys
assert "tensorflow" not in sys.modules
print("worker ok:", counts)
"""


def main(wheels: Path) -> int:
    with tempfile.TemporaryDirectory() as folder:
        site, image = Path(folder) / "site", Path(folder) / "image"
        image.mkdir()
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps",
             "--target", str(site), *map(str, sorted(wheels.glob("*.whl")))],
            check=True,
        )  # fmt: skip
        for name in IMAGE:
            _link(name, image)
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": os.pathsep.join([str(site), str(image), str(ROOT)]),
        }
        drained = subprocess.run([sys.executable, "-S", "-c", DRAIN], env=env, check=False)
        if drained.returncode:
            return drained.returncode
        # The benchmark itself, at the test's tiny sizes: its own imports (scikit-learn) too.
        bench = subprocess.run(
            [sys.executable, "-S", str(ROOT / "benchmarks" / "bench_gpu_queue.py"),
             "--platforms", "cpu", "--cpu-sizes", "1,2", "--cpu-sweep", "2", "--cpu-sweep-jobs",
             "2", "--epochs", "1", "--seeds", "2", "--mixed-tables", "1", "--no-warmup"],
            env={**env, "TRAINBOT_PLOT_PROCESSES": "1"}, check=False,
        )  # fmt: skip
    return bench.returncode


def _link(name: str, into: Path) -> None:
    """Link a distribution's top-level packages and modules from this environment."""
    try:
        files = metadata.files(name) or []
    except metadata.PackageNotFoundError:
        return
    for file in files:
        top = file.parts[0]
        if top.endswith((".dist-info", ".data")) or top == "..":
            continue
        source = Path(str(file.locate())).parents[len(file.parts) - 1] / top
        target = into / top
        if not target.exists() and source.exists():
            target.symlink_to(source)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / ".whl"))
