"""Training options typed by users (``epochs=300 lr=0.01 ...``), parsed and range-checked.

This module must stay free of Keras: the bot parses captions with it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from trainer.limits import Limits


class ParamError(ValueError):
    """A bad training option, named with its allowed range or values."""


OPTIMIZERS = ("adam", "rmsprop", "sgd")
PRESETS = ("default", "tutorial")
TASKS = ("regression", "classification")  # trainer.tables.task: None infers it
MAX_SEED = 2**31 - 1

_ALIASES = {
    "epochs": "epochs",
    "lr": "learning_rate",
    "learning_rate": "learning_rate",
    "optimizer": "optimizer",
    "batch": "batch_size",
    "batch_size": "batch_size",
    "val": "validation_split",
    "validation_split": "validation_split",
    "seed": "seed",
    "preset": "preset",
    "predict": "predict",
    "x": "x",
    "y": "y",
    "sheet": "sheet",
    "task": "task",
}


@dataclass(frozen=True)
class TrainParams:
    """What the user asked for; ``None`` means "use the preset's choice"."""

    epochs: int | None = None
    learning_rate: float | None = None
    optimizer: str | None = None
    batch_size: int | None = None
    validation_split: float | None = None
    seed: int | None = None
    preset: str = "default"
    predict: tuple[float, ...] = field(default_factory=tuple)
    x: tuple[str, ...] | None = None
    y: str | None = None
    sheet: str | None = None  # which sheet of an .xlsx upload (name or number); None: the first
    task: str | None = None  # "regression" or "classification"; None: inferred from the target

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        data = asdict(self)
        data["predict"] = list(self.predict)
        data["x"] = list(self.x) if self.x is not None else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainParams:
        """Inverse of ``to_dict``; unknown keys are ignored so old rows keep loading."""
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        if "predict" in known:
            known["predict"] = tuple(float(value) for value in known["predict"] or ())
        if known.get("x") is not None:
            known["x"] = tuple(known["x"])
        return cls(**known)


def parse_params(tokens: Sequence[str], limits: Limits) -> TrainParams:
    """Parse ``key=value`` tokens such as ``epochs=300 lr=0.01 x=temp,hum predict=200``."""
    values: dict[str, Any] = {}
    for token in tokens:
        if not token.strip():
            continue
        key, sep, raw = token.partition("=")
        key = key.strip().lower().lstrip("-").replace("-", "_")
        if not sep:
            raise ParamError(
                f'I don\'t understand "{token}": options look like epochs=300 or lr=0.01.'
            )
        name = _ALIASES.get(key)
        if name is None:
            raise ParamError(f'Unknown option "{key}"; the options are: {_option_list()}.')
        if name in values:
            raise ParamError(f'The option "{key}" is given twice.')
        values[name] = _PARSERS[name](key, raw.strip(), limits)
    return TrainParams(**values)


def parse_predict_values(tokens: Sequence[str], limits: Limits) -> tuple[float, ...]:
    """Parse ``/predict 1 2 3.5`` (spaces, commas or semicolons) into finite numbers."""
    parts = [part for token in tokens for part in _split_list(token)]
    if not parts:
        raise ParamError("Give at least one number to predict, e.g. /predict 200.")
    if len(parts) > limits.max_predict_values:
        raise ParamError(
            f"That is {len(parts)} values; I predict at most {limits.max_predict_values} at once."
        )
    return tuple(_finite("predict", part) for part in parts)


def _option_list() -> str:
    return "epochs, lr, optimizer, batch, val, seed, preset, predict, x, y, sheet, task"


def _split_list(raw: str) -> list[str]:
    return [part for part in raw.replace(";", ",").replace(",", " ").split() if part]


def _finite(key: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ParamError(f'{key} must be a number, not "{raw}".') from None
    if not math.isfinite(value):
        raise ParamError(f"{key} must be a finite number, not {raw}.")
    return value


def _int_in(key: str, raw: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ParamError(
            f'{key} must be a whole number from {low} to {high}, not "{raw}".'
        ) from None
    if not low <= value <= high:
        raise ParamError(f"{key} must be from {low} to {high}, not {value}.")
    return value


def _epochs(key: str, raw: str, limits: Limits) -> int:
    return _int_in(key, raw, 1, limits.max_epochs)


def _batch_size(key: str, raw: str, limits: Limits) -> int:
    return _int_in(key, raw, 1, limits.max_batch_size)


def _seed(key: str, raw: str, limits: Limits) -> int:
    return _int_in(key, raw, 0, MAX_SEED)


def _learning_rate(key: str, raw: str, limits: Limits) -> float:
    value = _finite(key, raw)
    low, high = limits.min_learning_rate, limits.max_learning_rate
    if not low <= value <= high:
        raise ParamError(f"{key} must be from {low:g} to {high:g}, not {value:g}.")
    return value


def _validation_split(key: str, raw: str, limits: Limits) -> float:
    value = _finite(key, raw)
    high = limits.max_validation_split
    if not 0 <= value <= high:
        raise ParamError(f"{key} must be from 0 to {high:g} (a share of the rows), not {value:g}.")
    return value


def _choice(options: tuple[str, ...]) -> Callable[[str, str, Limits], str]:
    def parse(key: str, raw: str, limits: Limits) -> str:
        value = raw.lower()
        if value not in options:
            raise ParamError(f'{key} must be one of {", ".join(options)}, not "{raw}".')
        return value

    return parse


def _columns(key: str, raw: str, limits: Limits) -> tuple[str, ...]:
    names = tuple(part.strip() for part in raw.split(",") if part.strip())
    if not names:
        raise ParamError(f"{key} needs at least one column name, e.g. {key}=temp,humidity.")
    if len(names) > limits.max_columns:
        raise ParamError(f"{key} may name at most {limits.max_columns} columns.")
    return names


def _column(key: str, raw: str, limits: Limits) -> str:
    if not raw or "," in raw:
        raise ParamError(f"{key} needs exactly one column name, e.g. {key}=sales.")
    return raw


def _sheet(key: str, raw: str, limits: Limits) -> str:
    if not raw:
        raise ParamError(f"{key} needs the name or number of a sheet, e.g. {key}=Data.")
    return raw[:100]


def _predict(key: str, raw: str, limits: Limits) -> tuple[float, ...]:
    return parse_predict_values([raw], limits)


_PARSERS: dict[str, Callable[[str, str, Limits], Any]] = {
    "epochs": _epochs,
    "learning_rate": _learning_rate,
    "optimizer": _choice(OPTIMIZERS),
    "batch_size": _batch_size,
    "validation_split": _validation_split,
    "seed": _seed,
    "preset": _choice(PRESETS),
    "predict": _predict,
    "x": _columns,
    "y": _column,
    "sheet": _sheet,
    "task": _choice(TASKS),
}
