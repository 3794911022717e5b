"""Which model a chat gets, the members' average or the line, and the rule that decides it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

NETWORK, LINE, NOTHING_HELD_OUT = "network", "line", "nothing_held_out"


@dataclass(frozen=True)
class Choice:
    """The model chosen (``NETWORK``, ``LINE``, or ``NOTHING_HELD_OUT`` when val=0 left no
    rows to choose by) and the cross-validation figures it was chosen on."""

    kind: str
    numbers: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"kind": ..., **numbers}``."""
        return {"kind": self.kind, **self.numbers}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Choice:
        numbers = {key: value for key, value in data.items() if key != "kind"}
        return cls(str(data.get("kind", "")), numbers)


def network_wins(
    actual: np.ndarray, network: np.ndarray, line: np.ndarray, margin: float, z: float = 2.0
) -> bool:
    """Whether the network's out-of-fold errors are clearly below the line's on the same rows.

    Clearly: by ``margin`` of the line's MSE, and by ``z`` standard errors of the mean paired
    difference of squared errors. On a few noisy rows a lucky network can look better by
    chance; the standard error, large there, keeps the line unless the gain is real. Two
    standard errors: with one, a network no better than the line still won about one table in
    six by luck, and on small tables that is the promise broken.
    """
    gain = (line - actual) ** 2 - (network - actual) ** 2
    mean = float(np.mean(gain))
    standard_error = float(np.std(gain, ddof=1) / np.sqrt(len(gain))) if len(gain) > 1 else 0.0
    return mean > max(margin * float(np.mean((line - actual) ** 2)), z * standard_error)


def honest_out_of_fold(
    rounds: np.ndarray, actual: np.ndarray, fold: np.ndarray, seed: int
) -> np.ndarray:
    """Out-of-fold predictions whose training round was not chosen on the rows they predict.

    ``rounds`` (rounds, rows) holds each round's held-out predictions (the start first).
    Each fold's held-out rows are split in two halves; the round with the lowest error on
    every fold's first halves predicts the second halves, and the other way round. Choosing
    the round on the very rows it is scored on flatters the network (on small tables by a few
    per cent, enough to beat a line it does not beat); this does not.
    """
    rounds = np.asarray(rounds, np.float64)
    actual = np.asarray(actual, np.float64)
    rng = np.random.default_rng(seed + 7919)
    half = np.full(len(actual), -1)
    for f in np.unique(fold[fold >= 0]):
        rows = np.flatnonzero(fold == f)
        half[rows[rng.permutation(len(rows))]] = np.arange(len(rows)) % 2
    honest = np.full(len(actual), np.nan)
    errors = (rounds - actual[None, :]) ** 2
    for chosen_on in (0, 1):
        choose, score = half == chosen_on, half == 1 - chosen_on
        if not choose.any() or not score.any():
            continue
        best = int(np.argmin(np.nanmean(errors[:, choose], axis=1)))
        honest[score] = rounds[best, score]
    return honest
