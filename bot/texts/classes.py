"""What the bot says about a trained classifier (issue 20): the classes, the held-out figures
beside the logistic regression's, the choice, rare classes and the inputs that matter."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.formatting import esc, names
from bot.texts.models import active_changed, model_label
from trainer.words import classes as class_words
from trainer.words import number
from trainer.words import summary as summary_words


def _figures(metrics: Mapping[str, Any], baseline: Mapping[str, Any]) -> list[str]:
    """A small table: the model's held-out figures and the logistic regression's."""
    rows = [f"{'held out':<18}{'model':>9}{'logistic':>10}"]
    mine, line = metrics.get("validation") or {}, baseline.get("validation") or {}
    if not mine:
        return []
    for label, key, percent in (
        ("accuracy", "accuracy", True),
        ("balanced acc.", "balanced_accuracy", True),
        ("log-loss", "log_loss", False),
        ("ROC AUC", "roc_auc", False),
    ):
        if mine.get(key) is None:
            continue

        def shown(value: Any, percent: bool = percent) -> str:
            if value is None:
                return "–"
            return f"{100 * value:.1f} %" if percent else number(value, 3)

        rows.append(f"{label:<18}{shown(mine.get(key)):>9}{shown(line.get(key)):>10}")
    return ["<pre>" + esc("\n".join(rows)) + "</pre>"]


def class_summary(payload: Mapping[str, Any]) -> str:
    from bot.texts.predict import prediction_lines
    from bot.texts.train import column_lines, missing_note, with_predictions

    features = list(payload.get("feature_names") or [])
    target = str(payload.get("target_name") or "y")
    n_rows = int(payload.get("n_rows") or 0)
    classes = list(payload.get("classes") or [])
    label = model_label(payload.get("model"), payload.get("model_version"))
    version, _, named = label.partition(" ")  # "v4", "(sales.csv, 4 Dec 2026 14:05 UTC)"
    lines = [
        f"✅ <b>Model {version}</b>{' ' + named if named else ''} is ready: {esc(target)} from "
        f"{names(features)}, {n_rows:,} rows.",
        esc(class_words.task_said(target, classes, payload.get("task_inferred", True))),
        *_figures(payload.get("metrics") or {}, payload.get("baseline") or {}),
        esc(class_words.choice(payload.get("choice"))),
    ]
    changed = active_changed(payload.get("replaced"))
    if changed:
        lines.append(changed)
    rare = class_words.imbalance(payload.get("imbalance"))
    if rare:
        lines.append(esc(rare))
    importance = payload.get("importance")
    if importance and len(importance) > 1:
        shares = summary_words.importance_shares(importance)
        lines.append(f"What matters most for {esc(target)}: {esc(shares)}.")
    lines.append(
        f"{payload.get('epochs_run', '?')} epochs in {number(payload.get('fit_seconds'), 3)} s "
        f"on {esc(payload.get('device') or 'cpu')} ({esc(payload.get('backend') or '?')})."
    )
    if payload.get("missing"):
        lines.append(missing_note(payload["missing"]))
    lines += column_lines(payload.get("columns") or [])
    predicted = prediction_lines(payload.get("predictions") or [], features, target)
    return with_predictions(lines, predicted, payload.get("predict_example"))
