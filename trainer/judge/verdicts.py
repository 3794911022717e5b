"""One sentence that says how the model did and what would help, following the evidence."""

from __future__ import annotations

import math

from trainer import words


def judge(
    network: dict[str, float | None], line: dict[str, float | None], split: str
) -> tuple[bool, str]:
    """Whether a single network beats the least-squares line, and one sentence saying so."""
    net_mse, line_mse = network["mse"] or 0.0, line["mse"] or 0.0
    compared = f"{split} MSE {number(net_mse)} vs {number(line_mse)} for the line"
    if net_mse < 0.9 * line_mse:
        times = _times(line_mse, net_mse)
        return True, f"The network beats a straight line: {times} lower error ({compared})."
    if net_mse <= 1.1 * line_mse:
        return (
            net_mse < line_mse,
            f"The network does about as well as a straight line ({compared}), "
            "so the relation looks linear.",
        )
    if (line.get("r2") or 0.0) > 0.99:
        advice = "the data follow a straight line, which a line fits best"
    else:
        advice = "try more epochs or more data"
    return False, f"A straight line does better than the network ({compared}): {advice}."


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
) -> str:
    """The verdict on a cross-validated choice between the members and the line.

    ``network_mse`` and ``line_mse`` are out of fold, at the kept round; ``final_*`` are the
    members' errors on their training and held-out rows when training ended.
    """
    compared = (
        f"held-out MSE {number(network_mse)} for the network, {number(line_mse)} for the line"
    )
    if kind == "network":
        text = (
            f"The relation is curved: the network beats a straight line "
            f"{_times(line_mse, network_mse)} on rows it never saw ({compared})."
        )
        if still_improving:
            text += " It was still improving when its step budget ran out: more epochs may help."
        elif final_train_mse > 0.8 * final_val_mse and (network_r2 or 0.0) < 0.5:
            text += " It fits training rows no better than new ones: a bigger network may help."
        return text
    if final_train_mse < 0.5 * final_val_mse:
        inputs = f"{n_inputs} input{'s' if n_inputs != 1 else ''}"
        return (
            f"The network learned its training rows far better than new ones (MSE "
            f"{number(final_train_mse)} vs {number(final_val_mse)}): {n_rows} rows are too few "
            f"for {inputs}, so you get the straight line, which is safer. More rows or fewer "
            "inputs may let a network help."
        )
    if line_r2 is not None and line_r2 > 0.99:
        return f"The data follow a straight line, so a line suffices and you get it ({compared})."
    return (
        f"A straight line does as well as the network on rows neither saw ({compared}), so you "
        "get the line: the relation looks linear, or the noise hides any curve."
    )


def number(value: float) -> str:
    """A short figure for sentences, which only compare figures: 3 significant digits."""
    return words.number(value, 3)


def _times(larger: float, smaller: float) -> str:
    times = larger / smaller if smaller > 0 else math.inf
    return f"{times:.1f}x" if times < 100 else f"{times:,.0f}x"
