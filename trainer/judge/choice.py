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
    actual: np.ndarray, network: np.ndarray, line: np.ndarray, margin: float, z: float = 1.0
) -> bool:
    """Whether the network's out-of-fold errors are clearly below the line's on the same rows.

    Clearly: by ``margin`` of the line's MSE, and by ``z`` standard errors of the mean paired
    difference of squared errors. On a few noisy rows a lucky network can look better by
    chance; the standard error, large there, keeps the line unless the gain is real.
    """
    gain = (line - actual) ** 2 - (network - actual) ** 2
    mean = float(np.mean(gain))
    standard_error = float(np.std(gain, ddof=1) / np.sqrt(len(gain))) if len(gain) > 1 else 0.0
    return mean > max(margin * float(np.mean((line - actual) ** 2)), z * standard_error)
