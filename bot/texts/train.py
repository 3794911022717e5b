"""What the bot says about a training: the job's acknowledgement, the summary with its table
of figures, and the plot's caption."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.formatting import MAX_CAPTION, MAX_TEXT, clip, esc, names, utf16_len
from bot.texts.classes import class_summary
from bot.texts.jobs import position_phrase
from bot.texts.models import active_changed, model_label
from bot.texts.predict import prediction_lines
from trainer import words
from trainer.words import classes as class_words
from trainer.words import number
from trainer.words import summary as summary_words

__all__ = [
    "MISSING_PARTS",
    "column_lines",
    "missing_note",
    "plot_caption",
    "train_queued",
    "train_summary",
    "with_predictions",
]


def train_queued(
    job_id: int,
    position: int | None,
    n_rows: int,
    features: Sequence[str],
    target: str,
    classes: Sequence[str] | None = None,
) -> str:
    # Issue 20: the reply says the problem type as soon as the table is read.
    kind = f" (a class: {esc(class_words.class_list(list(classes)))})" if classes else " (a number)"
    return (
        f"📥 Job {job_id}: {n_rows:,} rows, {esc(target)}{kind} from {names(features)}.\n"
        f"Queued, {position_phrase(position)}. I'll keep this message up to date."
    )


def column_lines(notes: Sequence[Any], limit: int = 8) -> list[str]:
    """The block saying what was done with each column that was no plain number (the notes as
    stored: facts, or the sentences of a summary stored before them)."""
    shown = [f"• {esc(words.column_note(note))}" for note in notes[:limit]]
    if len(notes) > limit:
        shown.append(f"… and {len(notes) - limit} more")
    return ["", "<b>Columns</b>", *shown] if shown else []


def plot_caption(payload: Mapping[str, Any]) -> str:
    features = list(payload.get("feature_names") or [])
    target = payload.get("target_name") or "y"
    label = model_label(payload.get("model"), payload.get("model_version"))
    return clip(f"📈 Model {label}: {esc(target)} from {names(features)}", MAX_CAPTION)


_METRIC_ROWS = (("RMSE", "rmse"), ("MAE", "mae"), ("R²", "r2"))


def _metric_table(metrics: Mapping[str, Any], baseline: Mapping[str, Any]) -> list[str]:
    train = metrics.get("train") or {}
    validation = metrics.get("validation") or {}
    line_train = baseline.get("train") or {}
    line_validation = baseline.get("validation") or {}
    has_validation = bool(validation)
    header = f"{'':<10}{'train':>11}" + (f"{'held out':>12}" if has_validation else "")
    rows = [header]
    for label, key in _METRIC_ROWS:
        row = f"{label:<10}{number(train.get(key), 4):>11}"
        if has_validation:
            row += f"{number(validation.get(key), 4):>12}"
        rows.append(row)
    row = f"{'line RMSE':<10}{number(line_train.get('rmse'), 4):>11}"
    if has_validation:
        row += f"{number(line_validation.get('rmse'), 4):>12}"
    rows.append(row)
    return ["<pre>" + esc("\n".join(rows)) + "</pre>"]


def _fold_spread(validation: Mapping[str, Any]) -> str:
    """The held-out RMSE's range across folds: how much the figure depends on the split."""
    folds = [float(mse) ** 0.5 for mse in validation.get("fold_mse") or [] if mse is not None]
    if len(folds) < 2:
        return ""
    return f" Held-out RMSE per fold: {number(min(folds), 3)} to {number(max(folds), 3)}."


# The parts of a training's reply that a failed step after the fit can cost
# (trainer.worker.outcomes).
MISSING_PARTS = {
    "plot": "the plot",
    "predictions": "the predictions you asked for",
    "details": "some of the details",
}


def missing_note(missing: Sequence[str]) -> str:
    """What the chat does not get this time, though its model is saved."""
    parts = [MISSING_PARTS.get(str(part), esc(part)) for part in missing]
    listed = parts[-1] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"⚠️ The model is saved, but I couldn't make {listed} this time."


def train_summary(payload: Mapping[str, Any]) -> str:
    """The reply to a training: what it is, then in plain words how sure and which model, the
    figures behind them folded in an expandable quote, the predictions asked for, and how to
    ask more."""
    if payload.get("task") == "classification":  # issue 20
        return class_summary(payload)
    features = list(payload.get("feature_names") or [])
    target = str(payload.get("target_name") or "y")
    n_rows = int(payload.get("n_rows") or 0)
    label = model_label(payload.get("model"), payload.get("model_version"))
    version, _, named = label.partition(" ")  # "v4", "(sales.csv, 4 Dec 2026 14:05 UTC)"
    lines = [
        f"✅ <b>Model {version}</b>{' ' + named if named else ''} is ready: {esc(target)} from "
        f"{names(features)}, {n_rows:,} rows.",
    ]
    plain = summary_words.plain_summary(payload)
    if plain:
        lines.append(esc(" ".join(plain)))
    changed = active_changed(payload.get("replaced"))
    if changed:
        lines.append(changed)
    if payload.get("missing"):
        lines.append(missing_note(payload["missing"]))
    lines += _details(payload)
    mark = str(payload.get("decimal") or ".")
    predicted = prediction_lines(payload.get("predictions") or [], features, target, mark)
    return with_predictions(lines, predicted, payload.get("predict_example"))


def with_predictions(lines: list[str], predicted: list[str], example: Any) -> str:
    """A training's reply: its lines, as many prediction lines as fit Telegram's limit, and how
    to ask more."""
    footer = f"Ask it more with /predict, e.g. <code>/predict {esc(example or '200')}</code>."
    # The prediction list is the only part that can grow without bound: it is what gets cut.
    budget = MAX_TEXT - utf16_len("\n".join([*lines, footer])) - 60
    shown: list[str] = []
    for line in predicted:
        if utf16_len("\n".join([*shown, line])) > budget:
            shown.append(f"… and {len(predicted) - len(shown)} more lines")
            break
        shown.append(line)
    if shown:
        lines = [*lines, "", "<b>Predictions</b>", *shown]
    return clip("\n".join([*lines, "", footer]))


def _details(payload: Mapping[str, Any]) -> list[str]:
    """The figures for those who want them, in an expandable quote that opens on a tap: the
    errors table, how the network and the line compared, the interval, each input's share,
    the fit's time, and what was done with the columns."""
    figures = [esc(line) for line in summary_words.figures(payload)]
    spread = _fold_spread(payload.get("validation") or {})
    if figures:
        figures[0] += spread
    elif spread:
        figures.append(spread.strip())
    inner = [
        "<b>Details</b>",
        *_metric_table(payload.get("metrics") or {}, payload.get("baseline") or {}),
        *figures,
        f"{payload.get('epochs_run', '?')} epochs in {number(payload.get('fit_seconds'), 3)} s "
        f"on {esc(payload.get('device') or 'cpu')} ({esc(payload.get('backend') or '?')}).",
        *column_lines(payload.get("columns") or [])[1:],
    ]
    return ["<blockquote expandable>" + "\n".join(inner) + "</blockquote>"]
