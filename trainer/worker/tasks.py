"""What a worker does with a job's input: plain functions from (input) to (what to store).

The worker (trainer.worker.loop) claims jobs, keeps their leases and stores what these return.
``train_model`` trains one table; ``train_models`` trains several tables together as one
program (trainer.learn.batch) and packages each result the same way, drawing their plots side by
side (trainer.report.processes).
"""

from __future__ import annotations

import logging
import math
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from storage.results import NewArtifact, NewMessage, NewModel
from trainbot.settings import Settings
from trainer.learn.batch import TrainRequest, train_batch
from trainer.learn.fit import Fit
from trainer.learn.training import train
from trainer.limits import Limits
from trainer.model_file.keras_file import save_model_bytes
from trainer.model_file.predictor import Prediction, Predictor
from trainer.params import TrainParams
from trainer.progress import Progress, turn
from trainer.report import processes
from trainer.report.classes import ClassReport, class_report_of
from trainer.report.data import Report, report_of
from trainer.tables.dataset import Dataset, read_dataset
from trainer.tables.task import CLASSIFICATION
from trainer.worker.outcomes import (
    DETAILS,
    PLOT,
    PREDICTIONS,
    Answer,
    TrainedJob,
    TrainInput,
    missing_parts,
)

T = TypeVar("T")

log = logging.getLogger(__name__)


def train_model(
    content: bytes,
    params: TrainParams,
    on_progress: Callable[[Progress], bool],
    settings: Settings,
) -> TrainedJob:
    """Parse the table, fit the model, then make the reply: predictions, plot and summary."""
    dataset = read_dataset(
        content, x=params.x, y=params.y, sheet=params.sheet, limits=settings.limits,
        task=params.task,
    )  # fmt: skip
    result = train(
        dataset,
        params,
        limits=settings.limits,
        on_progress=on_progress,
        progress_interval=settings.progress_interval,
    )
    return package(dataset, result, params)


def train_models(inputs: Sequence[TrainInput], settings: Settings) -> list[TrainedJob | Exception]:
    """Train several tables as one program where their shapes allow; per input, what to store
    or the exception that input raised (a bad table, Cancelled), in order."""
    outcomes: list[TrainedJob | Exception | None] = [None] * len(inputs)
    parsed: list[tuple[int, Dataset]] = []
    clocks = [job.clock for job in inputs]
    for index, job in enumerate(inputs):
        params = job.params
        try:
            with turn(clocks, {index}):  # a table's reading counts against its own limit
                dataset = read_dataset(
                    job.content, x=params.x, y=params.y, sheet=params.sheet,
                    limits=settings.limits, task=params.task,
                )  # fmt: skip
        except Exception as error:
            outcomes[index] = error
        else:
            parsed.append((index, dataset))
    # Issue 20: classifiers train alone (trainer.learn.classifier), the rest batched.
    classes = {i for i, d in parsed if d.task == CLASSIFICATION}
    with turn(clocks, {i for i, _ in parsed if i not in classes}):
        batched = train_batch(
            [TrainRequest(d, inputs[i].params, inputs[i].on_progress, inputs[i].clock)
             for i, d in parsed if i not in classes],
            limits=settings.limits,
            progress_interval=settings.progress_interval,
        )  # fmt: skip
    by_index = dict(zip([i for i, _ in parsed if i not in classes], batched, strict=True))
    for index, dataset in parsed:
        if index in classes:
            with turn(clocks, {index}):
                by_index[index] = _or_error(
                    lambda d=dataset, job=inputs[index]: train(
                        d, job.params, limits=settings.limits, on_progress=job.on_progress,
                        progress_interval=settings.progress_interval,
                    )
                )  # fmt: skip
    results = [by_index[i] for i, _ in parsed]
    fitted: list[tuple[int, tuple[Dataset, Fit, TrainParams]]] = []
    for (index, dataset), result in zip(parsed, results, strict=True):
        if isinstance(result, Exception):
            outcomes[index] = result
        else:
            fitted.append((index, (dataset, result, inputs[index].params)))
    packaged = package_all([f for _, f in fitted], plot_processes=settings.plot_processes)
    for (index, _), trained in zip(fitted, packaged, strict=True):
        outcomes[index] = trained
    return [o if o is not None else RuntimeError("not trained") for o in outcomes]


def package(dataset: Dataset, result: Fit, params: TrainParams) -> TrainedJob:
    """The model file, predictions asked for, plot and summary of a finished fit.

    Once the fit is done the model is what matters: a step after it that fails (predictions,
    plot, summary) costs only its own part of the reply, named in the summary's "missing".
    Raising instead would retry the job, and a retry trains again from the start only to fail
    at the same step (a column named `$y^$` cost three full trainings that way).
    """
    (trained,) = package_all([(dataset, result, params)])
    if isinstance(trained, Exception):
        raise trained
    return trained


def package_all(
    fitted: Sequence[tuple[Dataset, Fit, TrainParams]], *, plot_processes: int = 0
) -> list[TrainedJob | Exception]:
    """`package` for a batch, the plots drawn side by side (trainer.report.processes); per fit, what
    to store or the exception that failed it (its model file could not be made), in order."""
    replies = [_or_error(lambda f=f: _Reply.of(*f)) for f in fitted]
    reports = [r.report for r in replies if isinstance(r, _Reply) and r.report is not None]
    drawn = iter(processes.shared(plot_processes).draw_all(reports))
    packaged: list[TrainedJob | Exception] = []
    for reply in replies:
        if isinstance(reply, Exception):
            packaged.append(reply)
            continue
        png = next(drawn) if reply.report is not None else None
        packaged.append(_or_error(lambda reply=reply, png=png: reply.finish(png)))
    return packaged


@dataclass
class _Reply:
    """A fit's reply up to its plot: the model file, the predictor, the predictions asked for
    and what the plot shows, made where the model is; `finish` takes the drawn plot."""

    dataset: Dataset
    result: Fit
    keras_file: bytes
    predictor: Predictor | None
    predictions: list[Prediction]
    report: Report | ClassReport | None
    missing: list[str]

    @classmethod
    def of(cls, dataset: Dataset, result: Fit, params: TrainParams) -> _Reply:
        # Without its file there is no model to keep: this one failure still fails the job.
        keras_file = save_model_bytes(result, dataset.column_plan)
        missing: list[str] = []
        # The predictor answers the predictions asked with /train, and goes to the model cache.
        predictor = _after_fit([], "predictor", lambda: Predictor.from_result(result, dataset.plan))
        predictions: list[Prediction] = []
        if params.predict:
            if predictor is None:
                missing.append(PREDICTIONS)
            else:
                asked = params.predict
                predictions = (
                    _after_fit(missing, PREDICTIONS, lambda: predictor.predict(asked)) or []
                )
        report = _after_fit(missing, PLOT, lambda: _report_of(dataset, result, predictions))
        return cls(dataset, result, keras_file, predictor, predictions, report, missing)

    def finish(self, png: bytes | Exception | None) -> TrainedJob:
        dataset, result, missing = self.dataset, self.result, self.missing
        if isinstance(png, Exception):
            log.error("drawing the plot failed after training", exc_info=png)
            missing.append(PLOT)
            png = None
        summary = _after_fit(
            missing,
            DETAILS,
            lambda: {
                **_train_summary(result, self.predictions, dataset.n_rows),
                **dataset.summary(),
            },
        ) or {
            "n_rows": dataset.n_rows,
            "feature_names": list(dataset.input_names),
            "target_name": result.target_name,
        }
        if missing:
            summary["missing"] = missing_parts(missing)
        return TrainedJob(
            model=NewModel(
                keras_file=self.keras_file,
                # The column plan travels with the model, under "columns".
                scaling=json_safe({**result.scaling, "columns": dataset.column_plan.to_dict()}),
                feature_names=list(result.feature_names),
                target_name=result.target_name,
                feature_ranges=[list(r) for r in result.feature_ranges],
                metrics=json_safe(
                    {
                        "train": result.metrics["train"],
                        "validation": result.metrics.get("validation"),
                    }
                ),
                backend=result.backend,
                device=result.device,
            ),
            summary=json_safe(summary),
            plot_png=png,
            predictor=self.predictor,
        )


def predict_values(predictor: Predictor, version: int, values: list[Any]) -> Answer:
    """Answer a `/predict` of typed values with the model of the chat's version `version`."""
    predictions = predictor.predict(values)
    payload = {
        "model_version": version,
        "feature_names": list(predictor.feature_names),
        "target_name": predictor.target_name,
        "predictions": [prediction_dict(p) for p in predictions],
        # The answer writes numbers as the training table did (decimal commas).
        "decimal": predictor.plan.decimal_mark,
    }
    return Answer(result=payload, messages=[NewMessage("predictions", payload)])


def predict_csv(
    predictor: Predictor, version: int, content: bytes, job_id: int, limits: Limits
) -> Answer:
    """Answer an uploaded table of inputs with a CSV of predictions."""
    predicted = predictor.predict_table(content, limits)
    rows = predicted.rows
    filename = predicted.filename(f"predictions-{job_id}")
    file = NewArtifact("csv", "predictions", filename, predicted.content_type, predicted.data)
    return Answer(
        result={"rows": rows, "model_version": version},
        artifacts=[file],
        messages=[
            NewMessage(
                "predictions_csv",
                {
                    "rows": rows,
                    "model_version": version,
                    "notes": [note.to_dict() for note in predicted.notes],
                    # A big table goes zipped; the caption says so, and how big the CSV is.
                    "csv_bytes": predicted.csv_bytes,
                },
                "csv",
            )
        ],
    )


def _report_of(
    dataset: Dataset, result: Fit, predictions: list[Prediction]
) -> Report | ClassReport:
    if result.task == CLASSIFICATION:  # issue 20: confusion matrix and calibration
        return class_report_of(dataset, result)
    return report_of(dataset, result, predictions)


def _or_error(step: Callable[[], T]) -> T | Exception:
    try:
        return step()
    except Exception as error:
        return error


def _after_fit(missing: list[str], part: str, step: Callable[[], T]) -> T | None:
    """Run a step after the fit; if it fails, log why, note `part` as missing and go on."""
    try:
        return step()
    except Exception:
        log.error("making the %s failed after training:\n%s", part, traceback.format_exc())
        if part not in missing:
            missing.append(part)
        return None


def prediction_dict(prediction: Prediction) -> dict[str, Any]:
    return {
        "inputs": list(prediction.inputs or prediction.values),
        "names": list(prediction.names),
        "value": prediction.predicted,
        # The 90 % interval: None for a model without one (nothing was held out).
        "low": prediction.low,
        "high": prediction.high,
        "warnings": [warning.to_dict() for warning in prediction.warnings],
        # Issue 20, a classifier's: the class said and every class's probability.
        **(
            {"label": prediction.label, "probabilities": prediction.probabilities}
            if prediction.label is not None
            else {}
        ),
    }


def json_safe(value: Any) -> Any:
    """`value` as JSON can hold it: NumPy numbers as Python ones, NaN and infinities as None
    (PostgreSQL refuses a JSON document with NaN in it, and the result would be lost)."""
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _train_summary(result: Fit, predictions: list[Prediction], n_rows: int) -> dict[str, Any]:
    return {
        "n_rows": n_rows,
        "feature_names": list(result.feature_names),
        "target_name": result.target_name,
        "metrics": result.metrics,
        "baseline": result.baseline_metrics,
        "beats_baseline": bool(result.beats_baseline),
        "verdict": result.verdict.to_dict(),
        "model_kind": result.model_kind,
        "choice": result.choice.to_dict() if result.choice is not None else None,
        "validation": result.validation,
        "best_epoch": result.best_pass,
        "predictions": [prediction_dict(p) for p in predictions],
        "interval": result.interval,
        "importance": result.importance,
        # Issue 20: "classification" with its classes and how rare classes were weighed.
        "task": result.task,
        "imbalance": result.imbalance,
        "fit_seconds": round(float(result.fit_seconds), 3),
        "epochs_run": int(result.passes_run),
        "backend": result.backend,
        "device": result.device,
    }
