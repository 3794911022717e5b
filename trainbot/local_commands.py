"""The CLI's `trainbot train FILE` and `trainbot predict MODEL` commands: train on a local CSV
or .xlsx and print a summary or JSON; answer inputs from a downloaded model.

This is a command-line front end, so unlike the library modules it writes to stdout/stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from trainer import words
from trainer.errors import PredictError
from trainer.limits import Limits
from trainer.params import PRESETS, TASKS, ParamError, parse_params
from trainer.progress import Progress as TrainingProgress
from trainer.tables.dataset import DatasetError, check_upload_size, read_dataset
from trainer.tables.inputs import parse_inputs
from trainer.words import summary as summary_words

if TYPE_CHECKING:
    from rich.progress import TaskID

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
BAR_WIDTH = 30


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``train`` command's arguments to ``parser``."""
    parser.add_argument("file", type=Path, help="CSV or .xlsx file to train on")
    parser.add_argument(
        "--predict",
        nargs="+",
        default=[],
        metavar="X",
        help="inputs to predict after training: k values per prediction for k inputs, "
        "or name=value pairs (';' between predictions)",
    )
    parser.add_argument("--epochs", type=int, help="passes over the data (default: automatic)")
    parser.add_argument("--preset", choices=PRESETS, default="default", help="training recipe")
    parser.add_argument(
        "--x", help="input columns, comma-separated (default: x, else all but last)"
    )
    parser.add_argument("--y", help="target column (default: y, else the last column)")
    parser.add_argument(
        "--sheet", help="sheet of an .xlsx file, by name or number (default: first)"
    )
    parser.add_argument(
        "--task", choices=TASKS,
        help="regression or classification (default: classes for text or two-valued targets)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, help="random seed (default 0)")
    parser.add_argument("--lr", type=float, help="learning rate")
    parser.add_argument("--optimizer", help="adam, rmsprop or sgd")
    parser.add_argument("--batch", type=int, help="batch size")
    parser.add_argument("--val", type=float, help="share of rows held out for validation")
    parser.add_argument("--plot", type=Path, help="write the report PNG here")
    parser.add_argument(
        "--save", type=Path, metavar="MODEL.keras",
        help="write the model here (Keras alone loads it; `trainbot predict` reads raw inputs)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace, limits: Limits) -> int:
    """Run ``trainbot train``; returns the exit code."""
    try:
        params = parse_params(_param_tokens(args), limits)
        dataset = read_dataset(
            _read(args.file, limits),
            x=params.x,
            y=params.y,
            sheet=params.sheet,
            limits=limits,
            task=params.task,
        )
        # Checked before training, which takes a while: a typo should fail at once.
        predict = parse_inputs(args.predict, dataset.column_plan, limits) if args.predict else []
    except (DatasetError, ParamError, PredictError) as error:
        return _fail(str(error), EXIT_BAD_INPUT)

    # Imported here: Keras takes seconds to load and bad input should fail fast.
    from trainer.learn.training import train
    from trainer.model_file.predictor import Predictor

    bar = None if args.json else _ProgressBar(sys.stderr)
    try:
        result = train(dataset, params, limits=limits, on_progress=bar, progress_interval=0.25)
    except KeyboardInterrupt:
        return _fail("stopped.", EXIT_INTERRUPTED)
    except DatasetError as error:  # e.g. a class target with preset=tutorial
        return _fail(str(error), EXIT_BAD_INPUT)
    finally:
        if bar is not None:
            bar.finish()
    predictions = Predictor.from_result(result, dataset.plan).predict(predict) if predict else []
    try:
        plot = _write_outputs(args, dataset, result, predictions)
    except OSError as error:
        return _fail(f"can't write {error.filename}: {error.strerror}", EXIT_FAILED)
    print(_summary(args, dataset, result, predictions, plot))
    return EXIT_OK


def _write_outputs(
    args: argparse.Namespace, dataset: Any, result: Any, predictions: list[Any]
) -> str | None:
    """Write the plot and the model where asked; the plot's path, if one was written."""
    from trainer.model_file.keras_file import save_model_bytes
    from trainer.report.drawing import render_report_png

    plot = None
    if args.plot is not None:
        _write(args.plot, render_report_png(dataset, result, predictions))
        plot = str(args.plot)
    if args.save is not None:
        _write(args.save, save_model_bytes(result, dataset.column_plan))
    return plot


def _write(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as error:
        error.filename = str(path)
        raise


def _summary(
    args: argparse.Namespace, dataset: Any, result: Any, predictions: list[Any], plot: str | None
) -> str:
    """The report of a training: one JSON object with --json, else text."""
    if result.task == "classification":  # issue 20
        from trainbot.class_report import class_report, class_text

        classes = class_report(result, dataset, predictions, plot)
        return json.dumps(_json_safe(classes)) if args.json else class_text(classes)
    report = _report(result, predictions, plot)
    report["model_kind"] = result.model_kind
    report["choice"] = summary_words.choice(result.choice)
    report["validation"] = result.validation
    report["columns"] = words.column_notes(dataset.notes)
    report["features"] = dataset.input_names
    report["interval"] = result.interval
    report["importance"] = result.importance
    return json.dumps(_json_safe(report)) if args.json else _table(report, result)


def add_predict_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``predict`` command's arguments to ``parser``."""
    parser.add_argument("model", type=Path, help="a .keras file saved by `train --save`")
    parser.add_argument(
        "inputs", nargs="?", default="-",
        help="CSV or .xlsx of inputs, one row per prediction (default: standard input)",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, help="write the predictions CSV here (default: stdout)")


def run_predict(args: argparse.Namespace, limits: Limits) -> int:
    """Run ``trainbot predict``: the inputs table with a prediction column, as CSV."""
    try:
        model = args.model.read_bytes()
        inputs = sys.stdin.buffer.read() if args.inputs == "-" else _read(Path(args.inputs), limits)
    except OSError as error:
        return _fail(f"can't read {args.model}: {error.strerror or error}.", EXIT_BAD_INPUT)
    except DatasetError as error:
        return _fail(str(error), EXIT_BAD_INPUT)
    from trainer.model_file.predictor import Predictor

    try:
        table = Predictor.from_model_file(model).predict_table(inputs, limits)
    except (DatasetError, PredictError) as error:
        return _fail(str(error), EXIT_BAD_INPUT)
    for note in words.table_notes(table.notes):
        print(f"trainbot: {note}", file=sys.stderr)
    if args.out is None:
        sys.stdout.buffer.write(table.data)
        return EXIT_OK
    try:
        args.out.write_bytes(table.data)
    except OSError as error:
        return _fail(f"can't write {args.out}: {error.strerror}", EXIT_FAILED)
    return EXIT_OK


def _param_tokens(args: argparse.Namespace) -> list[str]:
    options = {
        "epochs": args.epochs,
        "preset": args.preset,
        "x": args.x,
        "y": args.y,
        "sheet": args.sheet,
        "seed": args.seed,
        "lr": args.lr,
        "optimizer": args.optimizer,
        "batch": args.batch,
        "val": args.val,
        "task": args.task,
    }
    return [f"{key}={value}" for key, value in options.items() if value is not None]


def _read(path: Path, limits: Limits) -> bytes:
    try:
        check_upload_size(path.stat().st_size, limits)
        return path.read_bytes()
    except OSError as error:
        raise DatasetError(f"Can't read {path}: {error.strerror or error}.") from None


def _fail(message: str, code: int) -> int:
    print(f"trainbot: {message}", file=sys.stderr)
    return code


def _report(result: Any, predictions: list[Any], plot: str | None) -> dict[str, Any]:
    return {
        "target": result.target_name,
        "features": result.feature_names,
        "recipe": result.recipe["name"],
        "n_train": result.n_train,
        "n_validation": result.n_validation,
        "metrics": result.metrics,
        "baseline_metrics": result.baseline_metrics,
        # The default recipe's line is ridge (the line its choice compared with); the
        # tutorial's is least squares.
        "baseline_kind": result.baseline.get("kind", "least squares"),
        "beats_baseline": result.beats_baseline,
        "verdict": summary_words.verdict(result.verdict),
        "predictions": [prediction.to_dict() for prediction in predictions],
        "fit_seconds": round(result.fit_seconds, 3),
        "epochs_run": result.passes_run,
        "backend": result.backend,
        "device": result.device,
        "plot": plot,
    }


def _json_safe(value: Any) -> Any:
    """Replace NaN and infinities (not valid JSON) with null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


def _table(report: dict[str, Any], result: Any) -> str:
    features = ", ".join(report["features"])
    folds = (report.get("validation") or {}).get("folds")
    if folds:
        rows = f"{report['n_train']} rows, {folds}-fold cross-validated"
    else:
        rows = f"{report['n_train']} training rows, {report['n_validation']} held out"
    lines = [
        f"Trained {report['target']} from {features}: {rows}, {report['recipe']} recipe.",
        "",
        f"{'':24}{'MSE':>12}{'RMSE':>12}{'MAE':>12}{'R²':>10}",
    ]
    compared = [("network", report["metrics"])]
    if report.get("model_kind") == "line":  # the chosen line is the ridge baseline itself
        compared = []
    compared.append((report.get("baseline_kind", "ridge"), report["baseline_metrics"]))
    for who, metrics in compared:
        for split, shown in (("train", "train"), ("validation", "held out")):
            values = metrics.get(split)
            if values:
                lines.append(
                    f"{who + ' ' + shown:24}{_num(values['mse']):>12}{_num(values['rmse']):>12}"
                    f"{_num(values['mae']):>12}{_num(values['r2']):>10}"
                )
    lines += _how_sure_lines(report, result)
    return "\n".join([*lines, *closing_lines(report, _prediction_lines(report))])


def closing_lines(report: dict[str, Any], predictions: list[str]) -> list[str]:
    """How a training's text ends, for regressors and classifiers alike: the columns, the
    predictions asked for, the fit's time and where the plot went."""
    lines = []
    if report.get("columns"):
        lines += ["", "Columns:", *(f"  {note}" for note in report["columns"])]
    lines += predictions
    lines += [
        "",
        f"Fit: {report['fit_seconds']:.2f} s, {report['epochs_run']} epochs, "
        f"{report['backend']} on {report['device']}.",
    ]
    if report["plot"]:
        lines.append(f"Plot: {report['plot']}")
    return lines


def _how_sure_lines(report: dict[str, Any], result: Any) -> list[str]:
    """In plain words as in the chat (how far off predictions were on unseen rows, the inputs
    that matter most, which model and why, each said once), then the figures behind them."""
    facts = {
        "target_name": report["target"],
        "feature_names": report["features"],
        "interval": report["interval"],
        "importance": report["importance"],
        "verdict": result.verdict,
        "choice": result.choice.to_dict() if result.choice is not None else None,
    }
    return ["", *summary_words.plain_summary(facts), *summary_words.figures(facts)]


def _prediction_lines(report: dict[str, Any]) -> list[str]:
    """Each prediction asked for, with its 90 % interval and its warning."""
    lines = ["", "Predictions:"] if report["predictions"] else []
    for prediction in report["predictions"]:
        inputs = ", ".join(
            f"{name} = {value:g}" if isinstance(value, float) else f"{name} = {value}"
            for name, value in zip(report["features"], prediction["inputs"], strict=True)
        )
        interval = summary_words.interval_range(prediction["low"], prediction["high"])
        lines.append(
            f"  {inputs}  ->  {report['target']} = {prediction['predicted']:.6g}"
            + (f"  ({interval})" if interval else "")
        )
        if prediction["warning"]:
            lines.append(f"    warning: {prediction['warning']}")
    return lines


def _num(value: float | None) -> str:
    """A figure of the table and the bar: 4 significant digits, enough to compare by."""
    return words.number(value, 4)


class _ProgressBar:
    """Epochs done, the losses and the time left, on a terminal stream (drawn by rich)."""

    def __init__(self, stream: TextIO) -> None:
        # Imported here: every trainbot command builds this module's parser, the bot too.
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.bar = Progress(
            TextColumn("epoch"),
            MofNCompleteColumn(),
            BarColumn(bar_width=BAR_WIDTH),
            TextColumn("{task.fields[figures]}"),
            console=Console(file=stream),
        )
        self.task: TaskID | None = None

    def __call__(self, progress: TrainingProgress) -> bool:
        figures = f"loss {_num(progress.loss)}"
        if progress.val_loss is not None:
            figures += f"  val {_num(progress.val_loss)}"
        if progress.eta_seconds is not None and progress.passes_done < progress.total_passes:
            figures += f"  eta {progress.eta_seconds:.0f}s"
        if self.task is None:
            self.bar.start()
            self.task = self.bar.add_task("train", total=progress.total_passes, figures="")
        self.bar.update(self.task, completed=progress.passes_done, figures=figures)
        return True

    def finish(self) -> None:
        if self.task is not None:
            self.bar.stop()
