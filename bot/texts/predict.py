"""What the bot says about predictions: how to ask, a wrong input, the answers, and a table
of inputs that gets a CSV back."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bot.formatting import MAX_CAPTION, clip, duration, esc, names
from bot.texts.jobs import position_phrase
from bot.texts.models import model_label
from trainer import words
from trainer.words import classes as class_words
from trainer.words import number

__all__ = [
    "NO_MODEL",
    "bad_values",
    "predict_csv_queued",
    "predict_rate_limited",
    "predict_usage",
    "prediction_lines",
    "predictions",
    "predictions_csv_caption",
]

NO_MODEL = (
    "This chat has no model yet. Send a CSV with the caption /train to train one, "
    "or pick one with /use (see /models)."
)


def predict_rate_limited(limit: int, window: float, wait: float) -> str:
    return (
        f"Easy there – I answer at most {limit} /predict per chat every {duration(window)}. "
        f"Please try again in {duration(max(wait, 1.0))}."
    )


def predict_usage(features: Sequence[str], example: str | None = None) -> str:
    if len(features) > 1 and example:
        return (
            f"This model takes {len(features)} inputs ({names(features, 10)}), for example "
            f"<code>/predict {esc(example)}</code>. Inputs you leave out are filled as in "
            "training; bare values in column order work too."
        )
    if len(features) <= 1:
        return (
            "Tell me the input: <code>/predict 200</code>, "
            "or several: <code>/predict 1 2 3.5</code>."
        )
    example = " ".join(str(i + 1) for i in range(len(features)))
    return (
        f"This model takes {len(features)} inputs per prediction ({names(features, 10)}), "
        f"for example <code>/predict {example}</code>."
    )


def bad_values(sentence: str, example: str = "200") -> str:
    return f"{esc(sentence)}\nFor example: <code>/predict {esc(example)}</code>"


def predict_csv_queued(
    job_id: int,
    position: int | None,
    version: int,
    filename: str,
    facts: Mapping[str, Any] | None = None,
) -> str:
    return (
        f"📥 Job {job_id}: predicting <b>{esc(filename)}</b> with model "
        f"{model_label(facts, version)}; "
        f"{position_phrase(position)}. The results come back as a CSV file."
    )


def _shown(value: Any, mark: str = ".") -> str:
    """An input as given: numbers formatted (with the table's decimal mark), text (a category,
    a date) escaped."""
    return words.in_mark(number(value), mark) if isinstance(value, int | float) else esc(value)


def prediction_lines(
    predictions: Iterable[Mapping[str, Any]],
    features: Sequence[str],
    target: str,
    mark: str = ".",
) -> list[str]:
    """One line per prediction, its 90 % interval beside it where the model has one, numbers
    written with `mark`, the table's decimal mark; a warning line under a guess."""
    lines: list[str] = []
    for p in predictions:
        inputs = list(p.get("inputs") or [])
        # A prediction names its own inputs (the table's columns) when it knows them.
        labels = list(p.get("names") or features)
        if len(labels) == 1 and len(inputs) == 1:
            given = f"{esc(labels[0])} = {_shown(inputs[0], mark)}"
        else:
            # "a = 1,5; b = 2" where commas are decimal marks.
            given = ("; " if mark == "," else ", ").join(
                f"{esc(f)} = {_shown(v, mark)}" for f, v in zip(labels, inputs, strict=False)
            )
        if p.get("label") is not None:  # issue 20: "survived: no (83 %)"
            answer = class_words.prediction(target, p.get("probabilities") or {})
            lines.append(f"{given} → <b>{esc(answer)}</b>")
        else:
            value, interval = _estimate(p, mark)
            lines.append(f"{given} → <b>{esc(target)} {value}</b>{interval}")
        # Facts since trainbot spoke in one voice; a reply stored before then holds its sentence.
        warning = words.prediction_warning(p.get("warnings")) or p.get("warning")
        if warning:
            lines.append(f"   ⚠️ {esc(warning)}")
    return lines


def _estimate(prediction: Mapping[str, Any], mark: str) -> tuple[str, str]:
    """("≈ 93.3", " (90 % between 88.1 and 98.6)"), or ("= 93.3333", "") without an interval:
    the value goes in bold, its range after it."""
    said = words.estimate(
        prediction.get("value"), prediction.get("low"), prediction.get("high"), mark
    )
    value, _, interval = said.partition(" (")
    return value, f" ({interval}" if interval else ""


def predictions(payload: Mapping[str, Any]) -> str:
    features = list(payload.get("feature_names") or [])
    target = str(payload.get("target_name") or "y")
    version = payload.get("model_version")
    if payload.get("model") or version is not None:
        head = f"🔮 Model {model_label(payload.get('model'), version)} predicts:"
    else:
        head = "🔮 Predictions:"
    mark = str(payload.get("decimal") or ".")
    lines = prediction_lines(payload.get("predictions") or [], features, target, mark)
    return clip("\n".join([head, *lines]))


def predictions_csv_caption(payload: Mapping[str, Any]) -> str:
    rows = int(payload.get("rows") or 0)
    version = payload.get("model_version")
    source = ""
    if payload.get("model") or version is not None:
        source = f" from model {model_label(payload.get('model'), version)}"
    notes = [f"• {esc(note)}" for note in words.table_notes(payload.get("notes") or [])]
    head = [f"🔮 Predictions for {rows:,} rows{source}."]
    if payload.get("csv_bytes"):
        head.append(esc(words.zipped_answer(int(payload["csv_bytes"]))))
    return clip("\n".join([*head, *notes]), MAX_CAPTION)
