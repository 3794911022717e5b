"""Real (short) Keras training: accuracy, the tutorial recipe, progress, cancel, determinism."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from trainer import examples
from trainer.backend import backend_name, device_description, load_keras
from trainer.learn.fit import Fit
from trainer.learn.network import build_model, compile_model
from trainer.learn.recipes import TUTORIAL, schedule
from trainer.learn.single import split_rows
from trainer.learn.training import train
from trainer.params import TrainParams
from trainer.progress import Cancelled, Progress
from trainer.tables.dataset import Dataset, read_dataset
from trainer.words import summary as summary_words

REFERENCE = Path(__file__).parents[1] / "examples" / "fahrenheit.csv"
ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def reference() -> Dataset:
    return read_dataset(REFERENCE.read_bytes())


@pytest.fixture(scope="module")
def trained(reference: Dataset) -> Fit:
    return train(reference, TrainParams(seed=0))


def test_default_recipe_learns_the_reference_data(trained: Fit) -> None:
    predicted = trained.predict(np.array([[200.0]]))[0]
    assert abs(predicted - 93.33) < 1.0
    assert trained.metrics["validation"]["r2"] > 0.999


def test_result_holds_what_the_worker_needs(trained: Fit) -> None:
    assert (trained.feature_names, trained.target_name) == (["x"], "y")
    assert trained.feature_ranges == [(0.0, 999.0)]
    # Five-fold cross-validation: every row is learned by four members and scored by the fifth.
    assert (trained.n_train, trained.n_validation) == (1000, 1000)
    assert trained.validation["folds"] == 5 and len(trained.validation["fold_mse"]) == 5
    assert {"x_mean", "x_std", "y_mean", "y_std"} <= set(trained.scaling)
    assert trained.scaling["in_model"] is True
    for split in ("train", "validation"):
        assert set(trained.metrics[split]) == {"mse", "rmse", "mae", "r2"}
        assert set(trained.baseline_metrics[split]) == {"mse", "rmse", "mae", "r2"}
    # A straight line is the exact answer here: the chat gets the line, and is told why.
    assert trained.model_kind == "line" and trained.beats_baseline is False
    assert summary_words.verdict(trained.verdict).startswith("The data follow a straight line")
    choice = summary_words.choice(trained.choice)
    assert "straight line" in choice and "5-fold cross-validation" in choice
    assert trained.baseline["coefficients"][0] == pytest.approx(5 / 9, rel=1e-3)
    history = trained.history
    assert len(history["passes"]) == len(history["loss"]) == len(history["val_loss"]) >= 1
    assert history["passes"][-1] == trained.passes_run > 0
    assert 0 <= trained.best_pass <= trained.passes_run
    assert trained.held_out is not None and np.isfinite(trained.held_out).all()
    assert trained.fit_seconds > 0
    assert trained.backend == backend_name() and trained.device == device_description()
    assert trained.recipe["name"] == "default"
    json.dumps(trained.summary())


def test_validation_rows_are_random_not_the_tail() -> None:
    train_rows, val_rows = split_rows(1000, 0.2, seed=0)
    assert len(val_rows) == 200 and len(train_rows) == 800
    assert set(train_rows).isdisjoint(val_rows)
    assert train_rows.min() < 10 and train_rows.max() > 990
    assert val_rows.min() < 100 and val_rows.max() > 900


def test_network_beats_a_line_on_a_curve() -> None:
    dataset = read_dataset(examples.curve_csv("square", 400, seed=1))
    result = train(dataset, TrainParams(seed=1))
    assert result.beats_baseline and result.model_kind == "network"
    assert summary_words.verdict(result.verdict).startswith(
        "The relation is curved: the network beats a straight line"
    )
    assert "average of 5 members" in summary_words.choice(result.choice)


def test_several_inputs() -> None:
    dataset = read_dataset(examples.big_csv(300, seed=2))
    result = train(dataset, TrainParams(epochs=20, seed=2))
    assert result.feature_names == ["a", "b"]
    assert result.predict(dataset.features[:5]).shape == (5,)
    assert result.passes_run == 20


def test_tutorial_preset_builds_the_seed_model() -> None:
    keras = load_keras()
    model = build_model(1, TUTORIAL)
    plan = schedule(TUTORIAL, 1000)
    compile_model(model, TUTORIAL, total_steps=plan.total_steps, steps_per_execution=1)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.units for layer in dense] == [32, 32, 32, 1]
    assert [layer.activation.__name__ for layer in dense] == ["relu", "relu", "relu", "linear"]
    assert isinstance(model.optimizer, keras.optimizers.RMSprop)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.0099)
    assert model.loss == "mse"
    assert (plan.batch_size, plan.passes) == (32, 500)


def test_tutorial_preset_trains_on_raw_values(reference: Dataset) -> None:
    result = train(reference, TrainParams(preset="tutorial", epochs=2))
    assert result.scaling == {"x_mean": [0.0], "x_std": [1.0], "y_mean": 0.0, "y_std": 1.0}
    assert result.passes_run == 2 and result.n_validation == 0
    assert result.metrics["validation"] is None and result.history["val_loss"] == []
    assert result.recipe["optimizer"] == "rmsprop"


def test_progress_reports_and_final_report(reference: Dataset) -> None:
    reports: list[Progress] = []
    train(
        reference,
        TrainParams(epochs=12, seed=1),
        on_progress=lambda progress: reports.append(progress) or True,
        progress_interval=0.0,
    )
    assert len(reports) >= 2
    epochs = [report.passes_done for report in reports]
    assert epochs == sorted(epochs)
    final = reports[-1]
    assert final.passes_done == final.total_passes == 12
    assert final.val_loss is not None and final.loss >= 0 and final.elapsed_seconds > 0


def test_progress_interval_limits_reports(reference: Dataset) -> None:
    reports: list[Progress] = []
    train(
        reference,
        TrainParams(epochs=12, seed=1),
        on_progress=lambda progress: reports.append(progress) or True,
        progress_interval=3600,
    )
    assert len(reports) == 1  # only the final one


def test_cancel_stops_training(reference: Dataset) -> None:
    calls: list[Progress] = []

    def stop(progress: Progress) -> bool:
        calls.append(progress)
        return False

    with pytest.raises(Cancelled):
        train(reference, TrainParams(epochs=3000), on_progress=stop, progress_interval=0.0)
    assert len(calls) == 1
    assert calls[0].passes_done < 3000


def test_same_seed_same_network(reference: Dataset) -> None:
    grid = np.arange(0.0, 1000.0, 100.0)[:, None]
    first = train(reference, TrainParams(epochs=6, seed=5)).predict(grid)
    second = train(reference, TrainParams(epochs=6, seed=5)).predict(grid)
    np.testing.assert_allclose(first, second, rtol=1e-6, atol=1e-6)


def test_other_backend_works_too() -> None:
    """Train once under the backend this test process is not using, in a subprocess."""
    other = "jax" if backend_name() == "tensorflow" else "tensorflow"
    code = (
        "import json, numpy as np\n"
        "from trainer import examples\n"
        "from trainer.backend import backend_name\n"
        "from trainer.tables.dataset import read_dataset\n"
        "from trainer.learn.training import train\n"
        "from trainer.params import TrainParams\n"
        "table = read_dataset(examples.fahrenheit_csv(200))\n"
        "result = train(table, TrainParams(epochs=30))\n"
        "again = train(table, TrainParams(epochs=30))  # the same network, reused from the pool\n"
        "x = np.array([[100.0], [150.0]])\n"
        "print(json.dumps({'backend': backend_name(), 'precision': _precision(),\n"
        "                  'y': float(result.predict(x)[0]),\n"
        "                  'same': bool(np.array_equal(result.predict(x), again.predict(x)))}))\n"
    )
    precision = {
        "jax": "def _precision():\n    import jax\n"
        "    return jax.config.jax_default_matmul_precision\n",
        "tensorflow": "def _precision():\n    import tensorflow as tf\n"
        "    return tf.config.experimental.tensor_float_32_execution_enabled()\n",
    }[other]
    env = {**os.environ, "KERAS_BACKEND": other}
    completed = subprocess.run(
        [sys.executable, "-c", precision + code],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    output = json.loads(completed.stdout.strip().splitlines()[-1])
    assert output["backend"] == other
    assert output["precision"] in ("highest", False)
    assert np.isfinite(output["y"])
    assert output["same"], "the same seed gave another network the second time"


def test_this_backend_pins_full_precision(trained: Fit) -> None:
    if backend_name() == "jax":
        import jax

        assert jax.config.jax_default_matmul_precision == "highest"
    elif backend_name() == "tensorflow":
        import tensorflow as tf

        assert tf.config.experimental.tensor_float_32_execution_enabled() is False


def test_gpu_ops_are_made_deterministic_unless_xla_flags_say_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=/tmp/x")
    load_keras()
    assert os.environ["XLA_FLAGS"] == "--xla_dump_to=/tmp/x --xla_gpu_deterministic_ops=true"

    monkeypatch.setenv("XLA_FLAGS", "--xla_gpu_deterministic_ops=false")
    load_keras()
    assert os.environ["XLA_FLAGS"] == "--xla_gpu_deterministic_ops=false"
