"""What the import contracts (pyproject.toml, [tool.importlinter], run by `lint-imports` in
`make test`) cannot see, because only running the code shows it: which modules a process
really loads. The bot stays light, a worker comes up without Keras, and the trainer's public
names load lazily."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import trainer

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("keras", "tensorflow", "jax", "matplotlib")


def heavy_modules_after(imports: str) -> str:
    """The Keras, TensorFlow, JAX or matplotlib modules loaded once `imports` has run in a
    fresh Python."""
    code = (
        f"import sys\n{imports}\nheavy = {HEAVY!r}\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def test_importing_any_bot_module_loads_no_keras_tensorflow_jax_or_matplotlib() -> None:
    every_bot_module = (
        "import importlib, pkgutil, bot\n"
        "for found in pkgutil.walk_packages(bot.__path__, 'bot.'):\n"
        "    importlib.import_module(found.name)"
    )
    assert heavy_modules_after(every_bot_module) == ""


def test_the_worker_loop_loads_keras_only_with_its_first_job() -> None:
    """A worker comes up and registers in about a second, however long Keras takes to load."""
    assert heavy_modules_after("import trainer.worker.loop") == ""


def test_the_trainers_public_names_load_only_when_used() -> None:
    assert heavy_modules_after("import trainer\nfrom trainer import Limits, TrainParams") == ""
    assert "keras" in heavy_modules_after("from trainer import train")


def test_every_public_name_of_the_trainer_is_there() -> None:
    for name in trainer.__all__:
        assert getattr(trainer, name) is not None
    assert set(trainer.__all__) <= set(dir(trainer))
