"""What the bot says about a chat's models: /models, /use, /delete and the caption of a
downloaded model file."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from bot.formatting import MAX_CAPTION, clip, esc, names, utf16_len
from trainer import words
from trainer.tables.columns import ColumnPlan

__all__ = [
    "NO_MODELS",
    "model_activated",
    "model_deleted",
    "model_file_caption",
    "model_line",
    "model_not_found",
    "model_usage",
    "models_list",
]

NO_MODELS = "No models yet. Send a CSV with the caption /train to train one."


def model_usage(command: str) -> str:
    return f"Which model? For example <code>/{command} v2</code>; /models lists them."


def model_not_found(version: int) -> str:
    return f"This chat has no model v{version}. /models lists its models."


def model_line(
    version: int, active: bool, target: str, features: Sequence[str], quality: str | None
) -> str:
    mark = " (active)" if active else ""
    text = f"<b>v{version}</b>{mark} · {esc(target)} from {names(features)}"
    return text + (f" · {quality}" if quality else "")


def models_list(lines: Sequence[str]) -> str:
    return clip(
        "<b>Models</b>\n" + "\n".join(lines) + "\n\n/use v2 picks one; /download v2 sends it."
    )


def model_activated(version: int) -> str:
    return f"Model v{version} is now the one /predict uses."


def model_deleted(version: int, was_active: bool) -> str:
    text = f"Deleted model v{version}."
    if was_active:
        text += " /predict has no model now; pick one with /use."
    return text


def model_file_caption(
    version: int, target: str, features: Sequence[str], scaling: Mapping[str, Any]
) -> str:
    text = (
        f"Model v{version}: {esc(target)} from {names(features)}. "
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
