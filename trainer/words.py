"""Every sentence the trainer's facts are shown in, for the chat and the command line alike.

The trainer returns facts (a verdict's kind and numbers, the model chosen, what was done with
a column, why a prediction is a guess); this module alone puts them in words. Plain text with
no Telegram, Keras or NumPy in it: the bot escapes these sentences for HTML and builds its
messages around them (bot/texts/), the command line prints them as they are.

A fact comes as its dataclass or as the dict it was stored as (``{"kind": ..., ...}``); a
summary stored before facts existed holds the sentence itself, which is shown as it was.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

MISSING = "–"


# -- numbers and sizes ---------------------------------------------------------------------


def number(value: float | None, digits: int = 6) -> str:
    """A number as people read it: 93.3333, 0.00123, 1.5e+07; a dash when missing or not finite.

    `digits` significant digits: 6 where a user may want the figure itself (predictions), fewer
    in tables and sentences that only compare figures.
    """
    if value is None or not math.isfinite(value):
        return MISSING
    return f"{value:.{digits}g}"


def size(n_bytes: int) -> str:
    """A file size in SI units, as Telegram states its limits: 1.5 MB, 120 kB, 500 bytes."""
    if n_bytes >= 1_000_000:
        return f"{n_bytes / 1_000_000:.1f} MB"
    if n_bytes >= 1_000:
        return f"{n_bytes / 1_000:.0f} kB"
    return f"{n_bytes} bytes"


def _short(value: float) -> str:
    """A figure in a sentence that only compares figures: 3 significant digits."""
    return number(value, 3)


def _times(larger: float, smaller: float) -> str:
    times = larger / smaller if smaller > 0 else math.inf
    return f"{times:.1f}x" if times < 100 else f"{times:,.0f}x"


def _fact(fact: Any) -> dict[str, Any]:
    """A fact's dict, whether it comes as its dataclass or as stored."""
    return fact.to_dict() if hasattr(fact, "to_dict") else dict(fact)


# -- how the model did -----------------------------------------------------------------------

NOTHING_HELD_OUT = (
    "Nothing was held out (val=0), so there is no fair measure of how well this network does "
    "on new rows."
)


def verdict(fact: Any) -> str:
    """How the model did and what would help (trainer.judge.verdicts), in one or two sentences."""
    if fact is None or isinstance(fact, str):
        return fact or ""  # a summary stored with its sentence
    data = _fact(fact)
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
        text += (
            f" Its held-out error was lowest after {data['best_epoch']} epochs and rose "
            f"{data['rise']:.0%} by epoch {data['epochs_run']}, so you get the weights of epoch "
            f"{data['best_epoch']}: fewer epochs would do."
        )
    elif data["kind"] == "curved_underfit":
        text += " It fits training rows no better than new ones: a bigger network may help."
    return text


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
    data = _fact(fact)
    if data.get("kind") == "nothing_held_out":
        return NOTHING_HELD_OUT
    folds = data["folds"]
    measured = (
        f"{folds}-fold cross-validation: MSE {_short(data['network_mse'])} for the network, "
        f"{_short(data['line_mse'])} for the line"
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


# -- what was done with the columns ----------------------------------------------------------

_IGNORED = {
    "empty": "no values",
    "counter": "a row number or id",
    "same_date": "always the same date",
    "all_different": "a different value in every row",
}
_MARKS = {".": "a decimal point", ",": "a decimal comma"}
_DATE_PARTS = {"year": "year", "weekday": "day of week", "hour": "time of day"}


def column_note(fact: Any) -> str:
    """One short line on what was done with a column that was no plain number
    (trainer.tables.roles.ColumnNote), e.g. "city: a category, one column for each of 3 values"."""
    if isinstance(fact, str):
        return fact  # a summary stored with its sentence
    data = _fact(fact)
    said = _COLUMN_NOTES.get(data["kind"])
    return f"{data['column']}: " + (said(data) if said else data["kind"])


def _number_note(data: Mapping[str, Any]) -> str:
    said = []
    if data.get("example") is not None:
        read = f'read "{data["example"]}" as {data["read"]:g}'
        if data.get("unsettled"):
            # No cell of the column said which mark is the decimal one; the table's other
            # columns or its delimiter did, and the user may know better.
            read += (
                f" (a guess: the table uses {_MARKS[data['unsettled']]}, and no cell of this "
                "column says otherwise)"
            )
        said.append(read)
    if data.get("other_mark"):
        said.append(f"{_count(data['other_mark'], 'cell')} with the other decimal mark read so")
    said += _words_and_gaps(data, f"the median {data.get('median', 0):g}")
    return "; ".join(said)


def _date_note(data: Mapping[str, Any]) -> str:
    text = "a date, used as " + " and ".join(_DATE_PARTS[part] for part in data["parts"])
    return "; ".join([text, *_words_and_gaps(data, str(data.get("fill")))])


def _words_and_gaps(data: Mapping[str, Any], fill: str) -> list[str]:
    """Words read as gaps ("rotary" among cylinder counts), and the gaps filled."""
    said = []
    if data.get("words"):
        words = data["words"]
        kind = "a number" if "median" in data else "a date"
        said.append(
            f'"{data["word"]}" and {_count(words - 1, "other cell")} that are not {kind} count '
            "as empty"
            if words > 1
            else f'"{data["word"]}" is not {kind}, so it counts as empty'
        )
    if data.get("missing"):
        said.append(f"{_count(data['missing'], 'empty cell')} filled with {fill} (and marked)")
    return said


def _category_note(data: Mapping[str, Any]) -> str:
    text = f"a category, one column for each of {_count(data['levels'], 'value')}"
    if data.get("other"):
        text += f", {_count(data['other'], 'other value')} counted as other"
        if data.get("budget"):
            text += " (to keep the inputs within the limit)"
    if data.get("missing"):
        text += f"; {_count(data['missing'], 'empty cell')} as their own value"
    return text


_COLUMN_NOTES = {
    "ignored": lambda data: f"ignored ({_ignored_why(data)})",
    "number": _number_note,
    "date": _date_note,
    "category": _category_note,
    "target_dropped": lambda data: f"{_count(data['rows'], 'row')} without a value dropped",
}


def column_notes(facts: Iterable[Any]) -> list[str]:
    return [column_note(fact) for fact in facts]


def plan_lines(plan: Any) -> list[str]:
    """One line per input of a ColumnPlan saying which features it becomes (for a caption or a
    reader)."""
    lines = []
    for column, names in zip(plan.inputs, plan.feature_groups(), strict=True):
        shown = ", ".join(names)
        if column.role == "category":
            unseen = f"{column.name}=(other)" if column.other else "all 0"
            lines.append(f"{column.name}: 1 in {shown} for its value (unseen: {unseen})")
        elif column.role == "date":
            year = f"years since {column.origin:.0f}-01-01" if column.origin else "year fraction"
            lines.append(f"{column.name}: {shown} ({year}, Monday 0, hours)")
        else:
            lines.append(f"{column.name}: {shown}")
        if column.fill is not None and (column.indicator or column.role != "category"):
            lines[-1] += f"; empty: {column.fill_text()}"
    return lines


def _ignored_why(data: Mapping[str, Any]) -> str:
    reason = data.get("reason")
    if reason == "constant":
        value = data.get("value")
        return f"always {value:g}" if isinstance(value, int | float) else f'always "{value}"'
    if reason == "text":
        return f"text, {data['values']:,} values"
    if reason == "mostly_different":
        return f"an id or free text: {data['values']:,} different values in {data['rows']:,} rows"
    return _IGNORED.get(str(reason), str(reason))


def _count(count: int, what: str) -> str:
    """``1 row``, ``1,234 rows``."""
    return f"1 {what}" if count == 1 else f"{count:,} {what}s"


# -- why a prediction may be a guess ---------------------------------------------------------

# A row's cell in the "warning" column of a table of predictions names at most this many
# inputs (the caption says each once, in full).
MAX_TAGS = 3
_TAGS = {"far_outside": "far outside", "filled": "filled", "unseen": "new value"}


def prediction_warning(facts: Iterable[Any] | None) -> str | None:
    """The warning of one prediction (trainer.model_file.warnings), None when there is none."""
    warnings = [_fact(fact) for fact in facts or ()]
    far = [
        f"{w['column']} = {w['value']} is far outside the training range {w['low']} to {w['high']}"
        for w in warnings
        if w["kind"] == "far_outside"
    ]
    sentences = ["; ".join(far) + ", so this prediction is a guess."] if far else []
    for w in warnings:
        if w["kind"] == "filled":
            sentences.append(f"{w['column']} was not given, so {_fill_words(w)}.")
        elif w["kind"] == "unseen":
            sentences.append(
                f'{w["column"]} "{w["cell"]}" was not in the training data, so it counts '
                f"{_counted(w)}."
            )
    return " ".join(sentences) or None


def table_note(fact: Any) -> str:
    """One column's note in the caption of a table of predictions."""
    if isinstance(fact, str):
        return fact  # a reply stored with its sentence
    w = _fact(fact)
    name, kind = w["column"], w["kind"]
    if kind == "far_outside":
        return (
            f"{name}: {_count(w['rows'], 'row')} far outside the training range {w['low']} to "
            f"{w['high']}, so those predictions are guesses"
        )
    if kind == "absent":
        return f"{name}: not in the file, so in every row {_fill_words(w)}"
    if kind == "filled":
        return f"{name}: {_count(w['rows'], 'empty cell')}, so {_fill_words(w)}"
    return (
        f"{name}: {_count(w['rows'], 'row')} with values not seen in training "
        f'(like "{w["example"]}"), counted {_counted(w)}'
    )


def table_notes(facts: Iterable[Any]) -> list[str]:
    return [table_note(fact) for fact in facts]


def row_tags(facts: Sequence[Any]) -> str:
    """The short cell of a row in the "warning" column: which inputs, and why in a word."""
    tags = [f"{w['column']}: {_TAGS[w['kind']]}" for w in map(_fact, facts)]
    more = f" and {len(tags) - MAX_TAGS} more" if len(tags) > MAX_TAGS else ""
    return "; ".join(tags[:MAX_TAGS]) + more


def _fill_words(warning: Mapping[str, Any]) -> str:
    """What an empty input becomes, as the end of "x was not given, so ..."."""
    if warning["role"] == "category":
        if warning["missing_level"]:
            return 'it counts as "missing", like the empty cells in training'
        return "it counts as none of the known values"
    middle = "median" if warning["role"] == "number" else "middle date"
    return f"I used {warning['fill']}, the training {middle}"


def _counted(warning: Mapping[str, Any]) -> str:
    return "as other" if warning["other"] else "as none of the known values"


def predictions_too_big(n_bytes: int, limit: int) -> str:
    """A table of predictions over what Telegram lets a bot send."""
    return (
        f"The predictions would make a file of about {n_bytes / 1_000_000:.0f} MB, over the "
        f"{limit // 1_000_000} MB Telegram lets me send; please split the inputs into smaller "
        "files."
    )


# -- jobs that cannot run ------------------------------------------------------------------

GONE_UPLOAD = "The uploaded file of this job is gone, so I cannot train on it."
GONE_INPUTS = "The uploaded file of this job is gone."
GONE_MODEL = "That model no longer exists; train a new one with /train."
CRASHED = "Something went wrong on my side while running this job."
NOT_STORED = "I trained the model, but could not store it. Please try again later."


def past_time_limit(timeout_seconds: float) -> str:
    return f"This job ran past its time limit of {timeout_seconds / 60:g} minutes, so I stopped it."
