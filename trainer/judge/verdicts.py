"""How a model did and what would help, as data: a verdict's kind and the numbers behind it.

The rules follow the evidence (out-of-fold errors, the training rows' errors, the line's R²);
trainer.words puts a verdict in words, for the chat and the command line alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# A single network (the tutorial's recipe), against the least-squares line.
BEATS_LINE = "beats_line"  # clearly lower error than the line
LIKE_LINE = "like_line"  # within 10 % of the line: the relation looks linear
LOSES_ON_LINE = "loses_on_line"  # worse than the line, and the data follow a line
LOSES = "loses"  # worse than the line: more passes or more rows may help
# Held-out error this much above its best by the last round is a rise worth telling.
OVERFIT_RISE = 0.05
# The default recipe's cross-validated choice between the members and the line.
CURVED = "curved"  # the members won
CURVED_STILL_IMPROVING = "curved_still_improving"  # won, and ran out of steps still improving
CURVED_UNDERFIT = "curved_underfit"  # won, but fit training rows no better than new ones
# won, but with the passes set by the user (epochs=) its held-out error rose after its best
# round: that round's weights are kept, and fewer passes would do.
CURVED_OVERFIT = "curved_overfit"
TOO_FEW_ROWS = "too_few_rows"  # the line, because the members learned their rows by heart
STRAIGHT = "straight"  # the line, and the data follow a line
LINE_AS_GOOD = "line_as_good"  # the line: the network did no better on rows neither saw
NOTHING_HELD_OUT = "nothing_held_out"  # val=0: nothing to judge by


@dataclass(frozen=True)
class Verdict:
    """A verdict's kind (one of the constants above) and the numbers it rests on."""

    kind: str
    numbers: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"kind": ..., **numbers}``."""
        return {"kind": self.kind, **self.numbers}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        numbers = {key: value for key, value in data.items() if key != "kind"}
        return cls(str(data.get("kind", "")), numbers)


def judge(
    network: dict[str, float | None], line: dict[str, float | None], split: str
) -> tuple[bool, Verdict]:
    """Whether a single network beats the least-squares line on ``split``, and the verdict."""
    net_mse, line_mse = network["mse"] or 0.0, line["mse"] or 0.0
    numbers = {"split": split, "network_mse": net_mse, "line_mse": line_mse}
    if net_mse < 0.9 * line_mse:
        return True, Verdict(BEATS_LINE, numbers)
    if net_mse <= 1.1 * line_mse:
        return net_mse < line_mse, Verdict(LIKE_LINE, numbers)
    if (line.get("r2") or 0.0) > 0.99:
        return False, Verdict(LOSES_ON_LINE, numbers)
    return False, Verdict(LOSES, numbers)


def judge_cross_validated(
    *,
    kind: str,
    network_mse: float,
    line_mse: float,
    final_train_mse: float,
    final_val_mse: float,
    line_r2: float | None,
    network_r2: float | None,
    still_improving: bool,
    n_rows: int,
    n_inputs: int,
    held_out_rise: float | None = None,
    best_pass: int | None = None,
    passes_run: int | None = None,
) -> Verdict:
    """The verdict on a cross-validated choice (``kind``) between the members and the line.

    ``network_mse`` and ``line_mse`` are out of fold, at the kept round; ``final_*`` are the
    members' errors on their training and held-out rows when training ended.
    ``held_out_rise`` (given when the user set the passes): how much the held-out error at the
    last round was above the kept round's, as a share of it.
    """
    compared = {"network_mse": network_mse, "line_mse": line_mse}
    if kind == "network":
        if held_out_rise is not None and held_out_rise > OVERFIT_RISE:
            return Verdict(
                CURVED_OVERFIT,
                {
                    **compared,
                    "rise": held_out_rise,
                    "best_epoch": best_pass,
                    "epochs_run": passes_run,
                },
            )
        if still_improving:
            return Verdict(CURVED_STILL_IMPROVING, compared)
        if final_train_mse > 0.8 * final_val_mse and (network_r2 or 0.0) < 0.5:
            return Verdict(CURVED_UNDERFIT, compared)
        return Verdict(CURVED, compared)
    if final_train_mse < 0.5 * final_val_mse:
        return Verdict(
            TOO_FEW_ROWS,
            {
                "final_train_mse": final_train_mse,
                "final_val_mse": final_val_mse,
                "n_rows": n_rows,
                "n_inputs": n_inputs,
            },
        )
    if line_r2 is not None and line_r2 > 0.99:
        return Verdict(STRAIGHT, compared)
    return Verdict(LINE_AS_GOOD, compared)
