"""The default recipe on tables where memorising is easy: it picks what generalises."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from trainer import examples
from trainer.judge.choice import network_wins
from trainer.judge.lines import fit_ridge
from trainer.learn.crossval import fold_of_each_row
from trainer.learn.fit import Fit
from trainer.learn.training import train
from trainer.model_file.keras_file import save_model_bytes
from trainer.model_file.predictor import Predictor
from trainer.params import TrainParams
from trainer.report.data import report_of
from trainer.report.drawing import report_figure
from trainer.tables.dataset import Dataset, read_dataset
from trainer.words import summary as summary_words

ROOT = Path(__file__).parents[1]


def _table(features: np.ndarray, target: np.ndarray) -> Dataset:
    names = [f"x{i}" for i in range(1, features.shape[1] + 1)]
    return Dataset(features, target, names, "y")


@pytest.fixture(scope="module")
def noisy_line() -> Dataset:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(150, 3))
    return _table(x, x @ [1.0, -2.0, 0.5] + 4 + rng.normal(0, 1.0, 150))


@pytest.fixture(scope="module")
def line_result(noisy_line: Dataset) -> Fit:
    return train(noisy_line, TrainParams(seed=0))


@pytest.fixture(scope="module")
def curve_result() -> tuple[Dataset, Fit]:
    dataset = read_dataset(examples.curve_csv("square", 300, seed=2))
    return dataset, train(dataset, TrainParams(seed=0))


def test_the_line_is_chosen_when_it_wins(noisy_line: Dataset, line_result: Fit) -> None:
    assert line_result.model_kind == "line" and not line_result.beats_baseline
    assert summary_words.choice(line_result.choice).startswith("You get the straight line")
    # The chat's model is one Dense layer between its scaling layers: the ridge line.
    dense = [layer.name for layer in line_result.model.layers if "Dense" in type(layer).__name__]
    assert dense == ["line"]
    ridge = fit_ridge(noisy_line.features, noisy_line.target)
    np.testing.assert_allclose(
        line_result.predict(noisy_line.features[:20]), ridge.predict(noisy_line.features[:20]),
        rtol=1e-4, atol=1e-4,
    )  # fmt: skip


def test_the_network_is_chosen_on_a_curve_and_its_figures_are_out_of_fold(
    curve_result: tuple[Dataset, Fit],
) -> None:
    dataset, result = curve_result
    assert result.model_kind == "network"
    validation, train_metrics = result.metrics["validation"], result.metrics["train"]
    assert validation is not None and train_metrics is not None
    # The held-out figure is the members' out-of-fold error, not the average's fit.
    held_out = result.held_out
    assert held_out is not None
    assert validation["mse"] == pytest.approx(float(np.mean((held_out - dataset.target) ** 2)))
    assert result.validation["network_mse"] == pytest.approx(validation["mse"])
    assert result.validation["line_mse"] > 10 * validation["mse"]


def test_overfitting_on_a_tiny_noisy_table_is_detected_and_said() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(14, 8))
    result = train(_table(x, x[:, 0] + rng.normal(0, 1.0, 14)), TrainParams(seed=0))
    assert result.model_kind == "line"
    assert "far better than new ones" in summary_words.verdict(result.verdict)
    assert "14 rows are too few for 8 inputs" in summary_words.verdict(result.verdict)
    assert "more epochs" not in summary_words.verdict(result.verdict)


def test_a_lucky_network_on_few_noisy_rows_does_not_beat_the_line() -> None:
    rng = np.random.default_rng(0)
    actual = rng.normal(size=12)
    line = actual + rng.normal(0, 1.0, 12)
    # Other errors, 10% lower in total on these rows: well within what chance gives on 12.
    network = actual + 0.95 * (line - actual)[rng.permutation(12)]
    assert np.mean((network - actual) ** 2) < 0.95 * np.mean((line - actual) ** 2)
    assert not network_wins(actual, network, line, margin=0.01)
    assert network_wins(actual, actual + 0.3 * (line - actual), line, margin=0.01)


def test_folds_are_random_and_even() -> None:
    fold = fold_of_each_row(103, 5, seed=1)
    assert sorted(np.bincount(fold)) == [20, 20, 21, 21, 21]
    assert not np.array_equal(fold, np.arange(103) % 5)


def test_the_plot_marks_held_out_rows_and_the_kept_epoch(
    curve_result: tuple[Dataset, Fit],
) -> None:
    dataset, result = curve_result
    fit_axes, loss_axes = report_figure(report_of(dataset, result)).axes[:2]
    labels = [text.get_text() for text in fit_axes.get_legend().get_texts()]
    assert "rows (5-fold cross-validated)" in labels
    loss_labels = [text.get_text() for text in loss_axes.get_legend().get_texts()]
    assert f"kept: pass {result.best_pass}" in loss_labels
    assert "straight line, held out" in loss_labels


def test_a_held_out_share_is_drawn_apart_from_training_rows() -> None:
    dataset = read_dataset(examples.big_csv(300, seed=1))
    result = train(dataset, TrainParams(preset="tutorial", epochs=2, validation_split=0.2))
    fit_axes = report_figure(report_of(dataset, result)).axes[0]
    labels = [text.get_text() for text in fit_axes.get_legend().get_texts()]
    assert {"training rows", "held-out rows"} <= set(labels)


def test_predictions_from_the_stored_model_are_the_chosen_models(
    noisy_line: Dataset, line_result: Fit, curve_result: tuple[Dataset, Fit]
) -> None:
    """/predict loads the stored .keras bytes with the stored scaling, as the worker does."""
    for dataset, result in ((noisy_line, line_result), curve_result):
        stored = Predictor(
            save_model_bytes(result), json.loads(json.dumps(result.scaling)),
            result.feature_names, result.target_name, result.feature_ranges,
        )  # fmt: skip
        rows = dataset.features[:7]
        answered = [p.predicted for p in stored.predict(rows)]
        np.testing.assert_allclose(answered, result.predict(rows), rtol=1e-5, atol=1e-5)


def _keras_alone(path: Path, rows: list[list[float]]) -> list[float]:
    """Predictions of the model file at ``path`` from a fresh process with Keras alone."""
    code = (
        "import json, sys, numpy as np, keras\n"
        "model = keras.saving.load_model(sys.argv[1])\n"
        "rows = np.array(json.loads(sys.argv[2]), dtype='float32')\n"
        "print(json.dumps(model.predict(rows, verbose=0).ravel().tolist()))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code, str(path), json.dumps(rows)],
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        cwd=path.parent,  # not the project: nothing of trainbot is importable there
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_a_downloaded_model_predicts_in_raw_units_with_keras_alone(
    tmp_path: Path, curve_result: tuple[Dataset, Fit]
) -> None:
    _, result = curve_result
    path = tmp_path / "model.keras"
    path.write_bytes(save_model_bytes(result))
    predicted = _keras_alone(path, [[-2.0], [0.5], [2.5]])
    expected = result.predict(np.array([[-2.0], [0.5], [2.5]]))
    np.testing.assert_allclose(predicted, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(predicted, [4.0, 0.25, 6.25], atol=0.15)


def test_a_model_with_a_category_column_works_with_keras_alone(tmp_path: Path) -> None:
    rows = [
        f"{region},{size},{size * factor + 5}"
        for region, factor in (("north", 10), ("south", 9), ("east", 11))
        for size in (8, 12, 15, 19, 23, 28, 31)
    ]
    dataset = read_dataset(("region,size,price\n" + "\n".join(rows) + "\n").encode())
    result = train(dataset, TrainParams(seed=0, epochs=12))
    path = tmp_path / "houses.keras"
    path.write_bytes(save_model_bytes(result, dataset.column_plan))
    # What the bot answers for named inputs; the encoded numbers are what the caption names.
    answers = Predictor.from_model_file(path.read_bytes()).predict(
        [{"region": "south", "size": "20"}, {"region": "east", "size": "10"}]
    )
    encoded = [list(answer.values) for answer in answers]
    assert len(encoded[0]) == len(result.feature_names) > 2  # one column per region, and size
    np.testing.assert_allclose(
        _keras_alone(path, encoded), [a.predicted for a in answers], rtol=1e-4, atol=1e-3
    )
