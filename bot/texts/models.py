"""What the bot says about a chat's models: /models, /use, /delete and the caption of a
downloaded model file."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.formatting import MAX_CAPTION, clip, esc, names, utf16_len
from trainer import words
from trainer.tables.columns import ColumnPlan

__all__ = [
    "NO_MODELS",
    "active_changed",
    "model_activated",
    "model_deleted",
    "model_file_caption",
    "model_label",
    "model_line",
    "model_not_found",
    "model_usage",
    "models_list",
]

NO_MODELS = "No models yet. Send a CSV with the caption /train to train one."


def _when(stamp: str | None) -> str | None:
    """ "4 Dec 2026 14:05 UTC" from a stored ISO time."""
    try:
        moment = datetime.fromisoformat(stamp or "")
    except ValueError:
        return None
    return f"{moment.day} {moment:%b %Y %H:%M} UTC"


def _named(facts: Mapping[str, Any]) -> list[str]:
    """The file, the date and (in groups) who trained it, as far as they are known."""
    said = [esc(facts["filename"])] if facts.get("filename") else []
    when = _when(facts.get("created_at"))
    said += [when] if when else []
    if facts.get("group") and facts.get("trained_by"):
        said.append(f"trained by {esc(facts['trained_by'])}")
    return said


def model_label(facts: Mapping[str, Any] | None, version: Any = None) -> str:
    """Which model, so that two of a chat's models cannot be mixed up: "v4 (sales.csv,
    4 Dec 2026 14:05 UTC, trained by Anna)"; who trained it is said in groups only. The bare
    version for messages stored before models were named."""
    facts = facts or {}
    label = f"v{facts.get('version', version if version is not None else '?')}"
    said = _named(facts)
    return f"{label} ({', '.join(said)})" if said else label


def active_changed(replaced: Mapping[str, Any] | None) -> str:
    """In a group, a new model changes everyone's answers: say so, naming the one it replaced."""
    if not replaced or not replaced.get("group"):
        return ""
    return (
        f"From now on /predict here answers with it, in place of model "
        f"{model_label(replaced)}; /use v{replaced.get('version')} goes back."
    )


def model_usage(command: str) -> str:
    return f"Which model? For example <code>/{command} v2</code>; /models lists them."


def model_not_found(version: int) -> str:
    return f"This chat has no model v{version}. /models lists its models."


def model_line(
    version: int,
    active: bool,
    target: str,
    features: Sequence[str],
    quality: str | None,
    facts: Mapping[str, Any] | None = None,
) -> str:
    """One model of /models: "v4 (active) · sales.csv · 4 Dec 2026 14:05 UTC · price from
    area, district · R² 0.93 (validation)"."""
    mark = " (active)" if active else ""
    said = [f"<b>v{version}</b>{mark}", *_named(facts or {})]
    said += [f"{esc(target)} from {names(features)}"] + ([quality] if quality else [])
    return " · ".join(said)


def models_list(lines: Sequence[str]) -> str:
    return clip(
        "<b>Models</b>\n" + "\n".join(lines) + "\n\n/use v2 picks one; /download v2 sends it."
    )


def model_activated(version: int, facts: Mapping[str, Any] | None = None) -> str:
    everyone = " here, for everyone" if (facts or {}).get("group") else ""
    return f"Model {model_label(facts, version)} is now the one /predict uses{everyone}."


def model_deleted(version: int, was_active: bool) -> str:
    text = f"Deleted model v{version}."
    if was_active:
        text += " /predict has no model now; pick one with /use."
    return text


def model_file_caption(
    version: int,
    target: str,
    features: Sequence[str],
    scaling: Mapping[str, Any],
    facts: Mapping[str, Any] | None = None,
) -> str:
    text = (
        f"Model {model_label(facts, version)}: {esc(target)} from {names(features)}. "
        "Open it with <code>keras.saving.load_model()</code>."
    )
    if not scaling:
        return text
    if scaling.get("in_model"):
        # Standardisation is inside the model as layers: raw inputs in, the target's units out.
        columns = ", ".join(esc(name) for name in features)
        text = (
            f"{text} It stands alone: <code>model.predict(np.array([[{columns}]]))</code> "
            f"gives {esc(target)} from inputs in this order, in their own units."
        )
        plan = ColumnPlan.of_model(scaling, features, target)
        if not plan.plain:
            # Categories, dates and gaps become those numbers as trainbot.json inside says.
            text += " Made from your columns as: " + esc("; ".join(words.plan_lines(plan)))
        return clip(text, MAX_CAPTION)
    # Older networks work on standardised values; the scaling makes their numbers usable.
    with_scaling = (
        f"{text} It works on standardised values: scale inputs and unscale the output with "
        f"<code>{esc(json.dumps(scaling, separators=(',', ':')))}</code>"
    )
    return with_scaling if utf16_len(with_scaling) <= MAX_CAPTION else text
