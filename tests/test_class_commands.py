"""`trainbot train` and `trainbot predict` of a class target (issue 20): the JSON report,
the predictions file with the classes as written and a probability per class, and the .keras
file giving the same probabilities with Keras alone."""

from __future__ import annotations

import argparse
import csv
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from trainbot import local_commands as commands
from trainer.backend import load_keras
from trainer.limits import Limits


def _train(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="trainbot train")
    commands.add_arguments(parser)
    return commands.run(parser.parse_args(list(argv)), Limits())


def _predict(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="trainbot predict")
    commands.add_predict_arguments(parser)
    return commands.run_predict(parser.parse_args(list(argv)), Limits())


def _table(path: Path, target: list[str]) -> Path:
    rng = np.random.default_rng(5)
    lines = ["fare,port,survived"]
    for label in target:
        fare = rng.normal(30 if label in ("1", "yes, sure") else 10, 6)
        lines.append(f'{fare:.2f},{rng.choice(["C", "Q", "S"])},"{label}"')
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("labels", "expected"), [(["0", "1"], ["0", "1"]), (["no", "yes, sure"], ["no", "yes, sure"])]
)
def test_a_class_target_trains_saves_and_predicts_classes_as_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], labels: list[str], expected: list[str]
) -> None:
    table = _table(tmp_path / "train.csv", [labels[i % 2] for i in range(60)])
    model = tmp_path / "model.keras"
    plot = tmp_path / "plot.png"
    code = _train(str(table), "--epochs", "4", "--save", str(model), "--plot", str(plot), "--json")
    out, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads(out)
    assert report["task"] == "classification" and report["classes"] == expected
    held_out = report["metrics"]["validation"]
    assert set(held_out) == {"accuracy", "balanced_accuracy", "log_loss", "macro_f1", "roc_auc"}
    assert held_out["accuracy"] > 0.8 and report["validation"]["folds"] == 5
    assert b"Confusion matrix and calibration" in plot.read_bytes()

    inputs = tmp_path / "in.csv"
    inputs.write_text("fare,port\n40,S\n5,C\n20,Z\n")
    assert _predict(str(model), str(inputs), "--out", str(tmp_path / "out.csv")) == 0
    _, err = capsys.readouterr()
    assert 'port: 1 row with values not seen in training (like "Z")' in err
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out.csv").read_text())))
    assert [row["survived_predicted"] for row in rows[:2]] == [expected[1], expected[0]]
    shown = np.array([[float(row[f"P({c})"]) for c in expected] for row in rows])
    np.testing.assert_allclose(shown.sum(axis=1), 1.0, atol=2e-6)
    assert rows[2]["warning"] == "port: new value"

    # Keras alone: the file's metadata names the classes, the model gives the probabilities.
    info = json.loads(zipfile.ZipFile(model).read("trainbot.json"))
    assert info["task"] == "classification" and info["classes"] == expected
    keras_model = load_keras().saving.load_model(model, compile=False)
    names = info["feature_names"]
    assert names[0] == "fare" and {"port=C", "port=S"} <= set(names), names
    features = np.zeros((2, len(names)), np.float32)
    features[:, 0] = [40, 5]
    features[0, names.index("port=S")] = features[1, names.index("port=C")] = 1
    np.testing.assert_allclose(keras_model.predict(features, verbose=0), shown[:2], atol=1e-5)


def test_task_regression_trains_a_zero_one_target_as_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = _table(tmp_path / "train.csv", [str(i % 2) for i in range(40)])
    code = _train(str(table), "--epochs", "2", "--task", "regression", "--json")
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "task" not in json.loads(out) and "mse" in json.loads(out)["metrics"]["train"]
