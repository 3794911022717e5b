"""`trainbot train` of a class target (issue 20): the JSON report and the text summary."""

from __future__ import annotations

from typing import Any

from trainbot.local_commands import closing_lines
from trainer import words
from trainer.words import classes as class_words
from trainer.words import summary as summary_words


def class_report(
    result: Any, dataset: Any, predictions: list[Any], plot: str | None
) -> dict[str, Any]:
    """What `trainbot train --json` prints for a classifier: task, classes, out-of-fold metrics
    of the model and of the logistic regression, the choice, imbalance and importance."""
    return {
        "task": result.task,
        "task_inferred": dataset.task_inferred,
        "target": result.target_name,
        "classes": list(result.classes or []),
        "features": dataset.input_names,
        "recipe": result.recipe["name"],
        "n_train": result.n_train,
        "n_validation": result.n_validation,
        "metrics": result.metrics,
        "baseline_metrics": result.baseline_metrics,
        "beats_baseline": result.beats_baseline,
        "model_kind": result.model_kind,
        "choice": class_words.choice(result.choice.to_dict() if result.choice else None),
        "validation": result.validation,
        "imbalance": result.imbalance,
        "importance": result.importance,
        "columns": words.column_notes(dataset.notes),
        "predictions": [prediction.to_dict() for prediction in predictions],
        "fit_seconds": round(result.fit_seconds, 3),
        "epochs_run": result.passes_run,
        "backend": result.backend,
        "device": result.device,
        "plot": plot,
    }


def class_text(report: dict[str, Any]) -> str:
    """The text summary of a classifier's training."""
    folds = (report.get("validation") or {}).get("folds")
    rows = (
        f"{report['n_train']} rows, {folds}-fold cross-validated"
        if folds
        else (f"{report['n_train']} rows, nothing held out")
    )
    lines = [
        class_words.task_said(report["target"], report["classes"], report["task_inferred"]),
        f"Inputs: {', '.join(report['features'])}; {rows}, {report['recipe']} recipe.",
        "",
        f"{'':28}{'accuracy':>10}{'balanced':>10}{'log-loss':>10}{'macro F1':>10}{'ROC AUC':>9}",
    ]
    lines += _figure_rows(report)
    lines += ["", report["choice"]]
    rare = class_words.imbalance(report.get("imbalance"))
    if rare:
        lines.append(rare)
    if summary_words.drivers(report.get("importance")):
        shares = summary_words.importance_shares(report["importance"])
        lines.append(f"Inputs by importance: {shares}.")
    return "\n".join([*lines, *closing_lines(report, _prediction_lines(report))])


def _figure_rows(report: dict[str, Any]) -> list[str]:
    """The chosen model's train and held-out figures, and the logistic regression's beside a
    network's (a chosen logistic regression is its own baseline)."""
    chosen = "logistic" if report["model_kind"] == "line" else "network"
    compared = [(chosen, report["metrics"])]
    if chosen == "network":
        compared.append(("logistic regr.", report["baseline_metrics"]))
    rows = []
    for who, metrics in compared:
        for split, shown in (("train", "train"), ("validation", "held out")):
            values = metrics.get(split)
            if values:
                log_loss = words.number(values["log_loss"], 4)
                f1 = words.number(values["macro_f1"], 3)
                auc = words.number(values.get("roc_auc"), 3)
                rows.append(
                    f"{who + ' ' + shown:28}{_pct(values['accuracy']):>10}"
                    f"{_pct(values['balanced_accuracy']):>10}{log_loss:>10}{f1:>10}{auc:>9}"
                )
    return rows


def _prediction_lines(report: dict[str, Any]) -> list[str]:
    if not report["predictions"]:
        return []
    lines = ["", "Predictions:"]
    for prediction in report["predictions"]:
        inputs = ", ".join(
            f"{name} = {value:g}" if isinstance(value, float) else f"{name} = {value}"
            for name, value in zip(report["features"], prediction["inputs"], strict=True)
        )
        answer = class_words.prediction(report["target"], prediction["probabilities"])
        lines.append(f"  {inputs}  ->  {answer}")
        if prediction["warning"]:
            lines.append(f"    warning: {prediction['warning']}")
    return lines


def _pct(value: float | None) -> str:
    return words.MISSING if value is None else f"{100 * value:.1f} %"
