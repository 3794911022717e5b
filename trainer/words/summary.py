"""The summary of a training in words: how the model did, which model the chat gets, how sure
its predictions are in the target's own units, and which inputs drive it.

Two voices for the same facts. ``plain_summary`` speaks to a newcomer: one or two sentences in
the target's units and which model it is, each said once. ``verdict``, ``choice`` and
``figures`` keep the figures behind them (out-of-fold MSE, folds), for those who open the
details, the plot's heading and the command line. Plain text, no Telegram, Keras or NumPy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from trainer.words import fact_dict, number


def _short(value: float) -> str:
    """A figure in a sentence that only compares figures: 3 significant digits."""
    return number(value, 3)


def _times(larger: float, smaller: float) -> str:
    times = larger / smaller if smaller > 0 else math.inf
    return f"{times:.1f}x" if times < 100 else f"{times:,.0f}x"


# -- how the model did -----------------------------------------------------------------------

NOTHING_HELD_OUT = (
    "Nothing was held out (val=0), so there is no fair measure of how well this network does "
    "on new rows."
)


def verdict(fact: Any) -> str:
    """How the model did and what would help (trainer.judge.verdicts), in one or two sentences."""
    if fact is None or isinstance(fact, str):
        return fact or ""  # a summary stored with its sentence
    data = fact_dict(fact)
    kind = data.get("kind")
    if kind == "nothing_held_out":
        return NOTHING_HELD_OUT
    if kind in _SINGLE:
        return _SINGLE[kind](data)
    if kind in ("curved", "curved_still_improving", "curved_underfit", "curved_overfit"):
        return _curved(data)
    network, line = _short(data.get("network_mse")), _short(data.get("line_mse"))
    compared = f"held-out MSE {network} for the network, {line} for the line"
    if kind == "too_few_rows":
        n_inputs = int(data["n_inputs"])
        inputs = f"{n_inputs} input{'s' if n_inputs != 1 else ''}"
        return (
            f"The network learned its training rows far better than new ones (MSE "
            f"{_short(data['final_train_mse'])} vs {_short(data['final_val_mse'])}): "
            f"{data['n_rows']} rows are too few for {inputs}, so you get the straight line, "
            "which is safer. More rows or fewer inputs may let a network help."
        )
    if kind == "straight":
        return f"The data follow a straight line, so a line suffices and you get it ({compared})."
    return (
        f"A straight line does as well as the network on rows neither saw ({compared}), so you "
        "get the line: the relation looks linear, or the noise hides any curve."
    )


def _no_better(network: Any, line: Any) -> bool:
    """The network's held-out figure is the line's own: each member starts as its line, and
    its best round on held-out rows was that start, so "network 124, line 124" would read as a
    tie the network never made."""
    try:
        network, line = float(network), float(line)
    except (TypeError, ValueError):
        return False
    return math.isfinite(line) and abs(network - line) <= 1e-9 * max(abs(line), 1e-300)


def _curved(data: Mapping[str, Any]) -> str:
    network, line = data["network_mse"], data["line_mse"]
    compared = f"held-out MSE {_short(network)} for the network, {_short(line)} for the line"
    text = (
        f"The relation is curved: the network beats a straight line "
        f"{_times(line, network)} on rows it never saw ({compared})."
    )
    if data["kind"] == "curved_still_improving":
        text += " It was still improving when its step budget ran out: more epochs may help."
    elif data["kind"] == "curved_overfit":
        text += " " + _overfit(data)
    elif data["kind"] == "curved_underfit":
        text += " It fits training rows no better than new ones: a bigger network may help."
    return text


def _overfit(data: Mapping[str, Any]) -> str:
    """With epochs= set: where held-out error was lowest, how far it rose, what is kept."""
    best, run = data.get("best_epoch"), data.get("epochs_run")
    return (
        f"Its held-out error was lowest after {best} epochs and rose {float(data['rise']):.0%} "
        f"by epoch {run}, so you get the weights of epoch {best}: fewer epochs would do."
    )


def _single_compared(data: Mapping[str, Any]) -> str:
    network, line = _short(data["network_mse"]), _short(data["line_mse"])
    return f"{data['split']} MSE {network} vs {line} for the line"


_SINGLE = {
    "beats_line": lambda data: (
        f"The network beats a straight line: {_times(data['line_mse'], data['network_mse'])} "
        f"lower error ({_single_compared(data)})."
    ),
    "like_line": lambda data: (
        f"The network does about as well as a straight line ({_single_compared(data)}), "
        "so the relation looks linear."
    ),
    "loses_on_line": lambda data: (
        f"A straight line does better than the network ({_single_compared(data)}): the data "
        "follow a straight line, which a line fits best."
    ),
    "loses": lambda data: (
        f"A straight line does better than the network ({_single_compared(data)}): try more "
        "epochs or more data."
    ),
}


def choice(fact: Any) -> str:
    """Which model the chat gets and the figures it was chosen by (trainer.judge.choice)."""
    if fact is None or isinstance(fact, str):
        return fact or ""  # a summary stored with its sentence
    data = fact_dict(fact)
    if data.get("kind") == "nothing_held_out":
        return NOTHING_HELD_OUT
    folds = data["folds"]
    measured = (
        f"{folds}-fold cross-validation: MSE {_short(data['network_mse'])} for the network, "
        f"{_short(data['line_mse'])} for the line"
    )
    if _no_better(data["network_mse"], data["line_mse"]):
        measured = (
            f"{folds}-fold cross-validation: MSE {_short(data['line_mse'])}; the network never "
            "got below the line it starts as"
        )
    if data.get("kind") == "network":
        return f"You get the network (an average of {folds} members): {measured}."
    return f"You get the straight line, because the network did not beat it ({measured})."


# -- how sure, and what drives it ---------------------------------------------------------


def how_sure(interval: Mapping[str, Any] | None, target_name: str) -> str:
    """How far off a prediction may be, in the target's units: "On rows it never saw,
    predictions of price were within ±12 for 9 in 10 rows"; empty without an interval."""
    if not interval or interval.get("half_width") is None:
        return ""
    varies = " (a typical width; it varies with the inputs)" if interval["varies"] else ""
    return (
        f"On rows it never saw, predictions of {target_name} were within ±"
        f"{about(interval['half_width'])} for {round(10 * interval['level'])} in 10 rows{varies}"
    )


def sure_and_drivers(
    interval: Mapping[str, Any] | None, importance: Mapping[str, float] | None, target_name: str
) -> str:
    """``how_sure`` and the inputs that matter most in one sentence, or what there is of it."""
    sure, named = how_sure(interval, target_name), drivers(importance)
    listed = " and ".join([", ".join(named[:-1]), *named[-1:]] if len(named) > 1 else named)
    if sure and named:
        return f"{sure}; {listed} matter{'s' if len(named) == 1 else ''} most."
    return f"{sure}." if sure else (f"What matters most: {listed}." if named else "")


def drivers(importance: Mapping[str, float] | None) -> list[str]:
    """The input columns that matter most (together 60 % or more, at most 3); none when
    there is one input, or none helped."""
    ranked = sorted(((n, s) for n, s in (importance or {}).items() if s > 0), key=lambda p: -p[1])
    ranked = ranked[:3] if len(importance or {}) > 1 else []
    before = [sum(share for _, share in ranked[:i]) for i in range(len(ranked))]
    return [name for (name, _), done in zip(ranked, before, strict=True) if done < 0.6]


def importance_shares(importance: Mapping[str, float] | None, most: int = 5) -> str:
    """The top input columns with their shares: "area 62 %, district 25 %, rooms 8 %"."""
    return ", ".join(f"{name} {share:.0%}".replace("%", " %") for name, share in
                     list((importance or {}).items())[:most])  # fmt: skip


def interval_range(low: float | None, high: float | None, level: float = 0.9) -> str:
    """A prediction's interval, "90 % interval 89.1 to 97.5", its ends to a few digits of its
    half-width; empty without one."""
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return ""
    half = (high - low) / 2
    decimals = max(0, 2 - math.floor(math.log10(half))) if half > 0 else 6
    return f"{round(100 * level)} % interval {low:.{decimals}f} to {high:.{decimals}f}"


def about(value: float) -> str:
    """A figure rounded to 2 significant digits and written out: 1,200, 12, 0.0052."""
    if not math.isfinite(value) or value == 0:
        return number(value)
    places = 1 - math.floor(math.log10(abs(value)))
    return f"{round(value, places):,.{max(0, places)}f}"


# -- in plain words, for a newcomer ----------------------------------------------------------


def plain_summary(summary: Mapping[str, Any]) -> list[str]:
    """A training's summary in one or two sentences, each saying something new: how far off a
    prediction may be in the target's units and what drives it, then which model the chat gets
    and what would help. ``summary`` is the training's stored summary (trainer.worker)."""
    target = str(summary.get("target_name") or "y")
    n_columns = len(summary.get("feature_names") or []) or None
    sure = sure_and_drivers(summary.get("interval"), summary.get("importance"), target)
    model = model_in_words(summary.get("verdict"), n_columns, after_sure=bool(sure))
    sentences = [sure, model]
    return [sentence for sentence in sentences if sentence]


def model_in_words(fact: Any, n_columns: int | None = None, *, after_sure: bool = False) -> str:
    """Which model the chat gets, why in words, and what may help: one sentence, two at most.

    ``n_columns`` counts the user's input columns (a category is one, however many values it
    has); verdicts stored before they counted so say the network's inputs instead.
    """
    if fact is None or isinstance(fact, str):
        return fact or ""  # a summary stored with its sentence
    data = fact_dict(fact)
    kind = str(data.get("kind"))
    if kind == "nothing_held_out":
        return (
            "You get the network; nothing was held out (val=0), so I cannot say how it does on "
            "rows it never saw."
        )
    if kind == "too_few_rows":
        count = n_columns or int(data.get("n_inputs") or 0)
        columns = f"{count} input column{'s' if count != 1 else ''}"
        return (
            f"You get a straight line: {data.get('n_rows')} rows are too few for a network on "
            f"{columns} (it learned its training rows by heart). More rows or fewer inputs may "
            "let a network help."
        )
    said = _IN_WORDS.get(kind)
    if said is None:
        return verdict(fact)
    # After the sentence on how sure, which says where the errors were measured, "there".
    where = "there" if after_sure else "on rows it never saw"
    said = said.format(times=_error_times(data), where=where)
    return f"{said} {_overfit(data)}" if kind == "curved_overfit" else said


def _error_times(data: Mapping[str, Any]) -> str:
    """How many times smaller the network's typical error (RMSE) was than the line's."""
    network, line = data.get("network_mse"), data.get("line_mse")
    if not network or not line:
        return "clearly"
    return _times(math.sqrt(float(line)), math.sqrt(float(network)))


_BEAT = "its typical error {where} was {times} smaller than a straight line's"
_IN_WORDS = {
    "curved": f"You get a neural network: {_BEAT}.",
    "curved_still_improving": (
        f"You get a neural network: {_BEAT}. It was still improving when its step budget ran "
        "out, so more epochs may help."
    ),
    "curved_overfit": f"You get a neural network: {_BEAT}.",
    "curved_underfit": (
        f"You get a neural network: {_BEAT}. It fits its training rows no better than new "
        "ones, so a bigger network may help."
    ),
    "straight": (
        "You get a straight line: the data follow one, and a network did no better {where}."
    ),
    "line_as_good": (
        "You get a straight line: a network did no better {where}, so the relation looks "
        "linear, or the noise hides any curve."
    ),
    "beats_line": f"You get the network: {_BEAT}.",
    "like_line": (
        "You get the network; it did about as well as a straight line {where}, so the relation "
        "looks linear."
    ),
    "loses_on_line": (
        "You get the network, though a straight line did better {where}: the data follow a "
        "straight line."
    ),
    "loses": (
        "You get the network, though a straight line did better {where}: more epochs or more "
        "rows may help."
    ),
}


def figures(summary: Mapping[str, Any]) -> list[str]:
    """The figures behind the plain sentences, one short line each, for the details: how the
    model and the line were compared, the interval and every input's share."""
    lines = []
    data = (
        fact_dict(summary.get("verdict") or {})
        if not isinstance(summary.get("verdict"), str)
        else {}
    )
    choice_data = summary.get("choice")
    if isinstance(choice_data, Mapping) and choice_data.get("folds"):
        how = f"{choice_data['folds']}-fold cross-validation"
        network, line = choice_data.get("network_mse"), choice_data.get("line_mse")
    else:
        how = f"on {data['split']} rows" if data.get("split") else "held out"
        network, line = data.get("network_mse"), data.get("line_mse")
    if network is not None and line is not None and _no_better(network, line):
        lines.append(
            f"MSE ({how}): straight line {_short(line)}; the network never got below the line "
            "it starts as."
        )
    elif network is not None and line is not None:
        lines.append(f"MSE ({how}): network {_short(network)}, straight line {_short(line)}.")
    if data.get("kind") == "too_few_rows":
        lines.append(
            f"The network's MSE: {_short(data['final_train_mse'])} on its training rows, "
            f"{_short(data['final_val_mse'])} on held-out ones."
        )
    interval = summary.get("interval")
    if isinstance(interval, Mapping) and interval.get("half_width") is not None:
        level = round(100 * float(interval.get("level") or 0.9))
        lines.append(
            f"{level} % interval: ±{number(interval['half_width'], 3)}"
            + (" typical, wider where the noise is" if interval.get("varies") else "")
            + "."
        )
    shares = importance_shares(summary.get("importance"), most=8)
    if shares and len(summary.get("importance") or {}) > 1:
        lines.append(f"Inputs by importance: {shares}.")
    return lines
