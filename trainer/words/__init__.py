"""Every sentence the trainer's facts are shown in, for the chat and the command line alike:
numbers and sizes, what was done with the columns, why a prediction is a guess, and why a job
could not run. How a model did, how sure it is and what drives it are in
trainer.words.summary.

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


def in_mark(text: str, mark: str = ".") -> str:
    """A number written with the decimal mark of the user's table: "50,5" where it used commas."""
    return text.replace(".", ",") if mark == "," else text


def estimate(value: float | None, low: float | None, high: float | None, mark: str = ".") -> str:
    """A prediction with how sure it is: "≈ 93.3 (90 % between 88.1 and 98.6)", written to two
    significant digits of the interval's half-width; "= 93.3333" without an interval, or where
    it is too narrow to matter (a table with no noise: the model is as exact as the figure)."""
    finite = all(v is not None and math.isfinite(v) for v in (value, low, high))
    if not finite or value is None or low is None or high is None:
        return f"= {in_mark(number(value), mark)}"
    half = (high - low) / 2
    if half <= EXACT * max(abs(value), 1.0):
        return f"= {in_mark(number(value), mark)}"
    places = min(max(0, 1 - math.floor(math.log10(half))), 12)
    shown = [in_mark(f"{v:.{places}f}", mark) for v in (value, low, high)]
    return f"≈ {shown[0]} (90 % between {shown[1]} and {shown[2]})"


# An interval narrower than this share of the value is shown as an exact figure.
EXACT = 1e-6


def size(n_bytes: int) -> str:
    """A file size in SI units, as Telegram states its limits: 1.5 MB, 120 kB, 500 bytes."""
    if n_bytes >= 1_000_000:
        return f"{n_bytes / 1_000_000:.1f} MB"
    if n_bytes >= 1_000:
        return f"{n_bytes / 1_000:.0f} kB"
    return f"{n_bytes} bytes"


def fact_dict(fact: Any) -> dict[str, Any]:
    """A fact's dict, whether it comes as its dataclass or as stored."""
    return fact.to_dict() if hasattr(fact, "to_dict") else dict(fact)


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
    data = fact_dict(fact)
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
        if data.get("rare"):
            text += f" (each on fewer than {data['rare']} rows)"
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
    warnings = [fact_dict(fact) for fact in facts or ()]
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
    w = fact_dict(fact)
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
    tags = [f"{w['column']}: {_TAGS[w['kind']]}" for w in map(fact_dict, facts)]
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
    """A table of predictions over what Telegram lets a bot send, even zipped."""
    return (
        f"The predictions would make a file of about {n_bytes / 1_000_000:.0f} MB, over the "
        f"{limit // 1_000_000} MB Telegram lets me send even zipped; please split the inputs "
        "into smaller files."
    )


def zipped_answer(csv_bytes: int) -> str:
    """Why a table of predictions comes as a .zip."""
    return f"Zipped: the CSV inside is {size(csv_bytes)}, too big to send as it is."


# -- jobs that cannot run ------------------------------------------------------------------

GONE_UPLOAD = "The uploaded file of this job is gone, so I cannot train on it."
GONE_INPUTS = "The uploaded file of this job is gone."
GONE_MODEL = "That model no longer exists; train a new one with /train."
CRASHED = "Something went wrong on my side while running this job."
NOT_STORED = "I trained the model, but could not store it. Please try again later."


def past_time_limit(timeout_seconds: float) -> str:
    return f"This job ran past its time limit of {timeout_seconds / 60:g} minutes, so I stopped it."
