"""``trainbot train`` as a function: JSON output, the summary table, and clean failures."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest

from trainbot import local_commands as commands
from trainer import examples
from trainer.limits import Limits
from trainer.progress import Progress

REFERENCE = Path(__file__).parents[1] / "examples" / "fahrenheit.csv"


def _run(*argv: str, limits: Limits = Limits()) -> int:  # noqa: B008
    parser = argparse.ArgumentParser(prog="trainbot train")
    commands.add_arguments(parser)
    return commands.run(parser.parse_args(list(argv)), limits)


def test_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plot = tmp_path / "report.png"
    code = _run(
        str(REFERENCE),
        "--predict",
        "200",
        "5000",
        "--epochs",
        "30",
        "--seed",
        "1",
        "--plot",
        str(plot),
        "--json",
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads(out)
    assert set(report) >= {
        "metrics",
        "baseline_metrics",
        "predictions",
        "fit_seconds",
        "epochs_run",
        "backend",
        "device",
        "plot",
        "verdict",
    }
    assert report["epochs_run"] == 30
    assert report["metrics"]["validation"]["mse"] >= 0
    assert set(report["baseline_metrics"]["train"]) == {"mse", "rmse", "mae", "r2"}
    first, far = report["predictions"]
    assert first["values"] == [200.0] and first["warning"] is None
    assert "far outside" in far["warning"]
    assert first["low"] < first["predicted"] < first["high"]
    assert set(report["interval"]) == {"level", "half_width", "varies"}
    assert report["importance"] == {"x": 1.0}  # one input: it drives everything
    assert report["plot"] == str(plot) and plot.read_bytes().startswith(b"\x89PNG")


def test_summary_table_and_progress_bar(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "sales.csv"
    data.write_bytes(examples.big_csv(500, seed=4))
    code = _run(str(data), "--x", "a,b", "--y", "y", "--epochs", "12", "--predict", "1", "2")
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "500 rows, 5-fold cross-validated" in out
    assert "network held out" in out and "least squares train" in out
    assert "You get a neural network: its typical error there was " in out
    assert "MSE (5-fold cross-validation): network " in out
    assert "a = 1, b = 2  ->  y = " in out and "(90 % interval " in out
    assert "On rows it never saw, predictions of y were within ±" in out
    assert "Inputs by importance: " in out
    assert "12 epochs" in out
    assert "epoch 12/12" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["missing.csv"], "Can't read"),
        (["{tmp}/bad.csv"], 'Column "y" has a value that is not a number in row 3'),
        (["{ref}", "--epochs", "0"], "epochs must be from 1 to 5000"),
        (["{ref}", "--y", "price"], 'no column named "price"'),
        (["{ref}", "--predict", "inf"], 'x must be a finite number, not "inf"'),
        (["{ref}", "--predict", "abc"], 'x must be a number, not "abc"'),
        (["{ref}", "--predict", "z=5"], 'This model has no input "z"; its inputs are: x.'),
        (["{ref}", "--sheet", ""], "sheet needs the name or number of a sheet"),
        (["{ref}", "--lr", "7"], "lr must be from"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    (tmp_path / "bad.csv").write_bytes(b"x,y\n1,2\n2,?\n" + b"3,4\n" * 20)
    argv = [a.format(tmp=tmp_path, ref=REFERENCE) for a in argv]
    code = _run(*argv, "--json")
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.startswith("trainbot: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_predict_needs_whole_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "two.csv"
    data.write_bytes(examples.big_csv(50))
    assert _run(str(data), "--predict", "1", "2", "3") == 2
    assert "2 values per prediction (a, b)" in capsys.readouterr().err


def test_file_over_the_upload_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(str(REFERENCE), limits=Limits(max_upload_bytes=1000)) == 2
    assert "over the 1 kB limit" in capsys.readouterr().err


def _predict(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="trainbot predict")
    commands.add_predict_arguments(parser)
    return commands.run_predict(parser.parse_args(list(argv)), Limits())


HOUSES = (
    "region,size,price\n"
    + "".join(
        f"{region},{size},{size * factor + 5}\n"
        for region, factor in (("north", 10), ("south", 9), ("east", 11))
        for size in (8, 12, 15, 19, 23, 28, 31)
    )
).encode()


def test_a_saved_model_predicts_a_table_of_raw_inputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "houses.csv").write_bytes(HOUSES)
    model = tmp_path / "models" / "houses.keras"
    code = _run(
        str(tmp_path / "houses.csv"), "--y", "price", "--epochs", "12", "--save", str(model),
        "--predict", "region=south size=20", "--json",
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads(out)
    trained = report["predictions"][0]["predicted"]
    # Importance by the user's columns: the region's one-hot features count as one.
    assert set(report["importance"]) == {"region", "size"}
    # Extra columns are kept, columns in any order; a region never seen is said once.
    (tmp_path / "new.csv").write_text("note,size,region\nhi,20,south\nyo,20,west\n")
    assert _predict(str(model), str(tmp_path / "new.csv")) == 0
    out, err = capsys.readouterr()
    header, south, west = out.strip().splitlines()
    assert header == "note,size,region,price_predicted,price_low,price_high,warning"
    assert float(south.split(",")[3]) == pytest.approx(trained, rel=1e-5)
    assert west.startswith("yo,20,west,") and "west" in err


def test_predict_refuses_a_file_that_is_not_a_trainbot_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _predict(str(REFERENCE), str(REFERENCE)) == 2
    assert capsys.readouterr().err.strip() == "trainbot: This is not a .keras model file."
    assert _predict(str(tmp_path / "none.keras"), str(REFERENCE)) == 2
    assert "can't read" in capsys.readouterr().err


def test_the_progress_bar_ends_at_the_last_epoch_with_its_losses() -> None:
    stream = io.StringIO()
    bar = commands._ProgressBar(stream)
    for epoch in (1, 15, 30):
        bar(Progress(epoch, 30, 0.5 / epoch, 0.6 / epoch, 30.0 - epoch, float(epoch)))
    bar.finish()
    drawn = stream.getvalue()
    assert "epoch 30/30" in drawn and "loss 0.01667" in drawn and "val 0.02" in drawn
    assert "eta" not in drawn.splitlines()[-1]  # nothing is left once it is done
