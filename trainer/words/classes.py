"""The sentences of classifiers (issue 20): the task said, refusals, metrics, imbalance and
predictions, for the chat and the command line alike. Plain text, like trainer.words."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from trainer import words
from trainer.words import summary as summary_words


def quoted(label: str) -> str:
    return f'"{label}"'


def class_list(classes: Sequence[str], most: int = 6) -> str:
    shown = ", ".join(quoted(c) for c in classes[:most])
    return shown + (f" and {len(classes) - most} more" if len(classes) > most else "")


# -- refusals ------------------------------------------------------------------------------


def too_many_text_classes(column: str, count: int, most: int) -> str:
    return (
        f'Column "{column}" holds text with {count:,} different values; I predict a number, '
        f"or a class among at most {most}. Choose another column with y=NAME."
    )


def too_many_classes(column: str, count: int, most: int) -> str:
    return (
        f'Column "{column}" has {count:,} different values: too many classes (at most {most}). '
        "Leave out task=classification to predict it as a number."
    )


def one_class(column: str, label: str) -> str:
    return f'Every value in column "{column}" is "{label}", so there is nothing to learn.'


def rare_class(column: str, label: str, rows: int, least: int) -> str:
    return (
        f'Class "{label}" of column "{column}" has only {rows} row{"s" if rows != 1 else ""}; '
        f"I need at least {least} of each class to learn it and test it. "
        "Add rows, merge the class with another, or remove its rows."
    )


def text_for_regression(column: str, cell: str) -> str:
    return (
        f'Column "{column}" holds text like "{cell}", and task=regression predicts numbers; '
        "leave task= out to predict its classes, or choose a column of numbers with y=NAME."
    )


TUTORIAL_CLASSES = (
    "The tutorial preset predicts numbers only, and this column holds classes. Leave out "
    "preset=tutorial to train a classifier, or add task=regression to predict it as a number."
)


# -- what was trained ------------------------------------------------------------------------


def task_said(target: str, classes: Sequence[str], inferred: bool) -> str:
    """The reply's sentence naming the problem type."""
    why = " (add task=regression to predict it as a number)" if inferred else ""
    return (
        f'"{target}" is a class, so I trained a classifier of {len(classes)} classes: '
        f"{class_list(classes)}{why}."
    )


def imbalance(facts: Mapping[str, Any] | None) -> str | None:
    """How a rare class was handled, or None when the classes are about even."""
    if not facts or not facts.get("weighted"):
        return None
    return (
        f'Class "{facts["rarest"]}" is only {_percent(facts["rarest_share"])} of the rows: '
        "rare classes weighed more in training, and the probabilities were corrected back to "
        "how often each class occurs."
    )


def metrics_line(metrics: Mapping[str, Any] | None) -> str:
    """Out-of-fold accuracy, balanced accuracy, log-loss and (two classes) ROC AUC."""
    if not metrics:
        return ""
    parts = [
        f"accuracy {_percent(metrics['accuracy'])}",
        f"balanced accuracy {_percent(metrics['balanced_accuracy'])}",
        f"log-loss {words.number(metrics['log_loss'], 3)}",
    ]
    if metrics.get("roc_auc") is not None:
        parts.append(f"ROC AUC {words.number(metrics['roc_auc'], 3)}")
    return ", ".join(parts)


def choice(facts: Mapping[str, Any] | None) -> str:
    """Which model the chat got, network or logistic line, and the log-losses it was chosen on."""
    if not facts or facts.get("kind") not in ("network", "line"):
        return "Nothing was held out (val=0), so these figures are from rows the model learned."
    network = words.number(facts.get("network_log_loss"), 3)
    line = words.number(facts.get("line_log_loss"), 3)
    compared = f"held-out log-loss {network} for the network, {line} for a logistic regression"
    if facts["kind"] == "network":
        return f"The network beat a logistic regression on rows it never saw ({compared})."
    return (
        "The network was not clearly better than a logistic regression on rows it never saw "
        f"({compared}), so you get the logistic regression."
    )


def summary(facts: Mapping[str, Any]) -> list[str]:
    """The sentences of a classifier's reply: task, held-out figures, choice, imbalance and the
    inputs that matter."""
    lines = [task_said(facts["target_name"], facts["classes"], facts.get("task_inferred", True))]
    validation = (facts.get("metrics") or {}).get("validation")
    if validation:
        lines.append(f"On rows it never learned: {metrics_line(validation)}.")
        line = (facts.get("baseline") or {}).get("validation")
        if line:
            lines.append(f"A logistic regression: {metrics_line(line)}.")
    lines.append(choice(facts.get("choice")))
    rare = imbalance(facts.get("imbalance"))
    if rare:
        lines.append(rare)
    drivers = summary_words.drivers(facts.get("importance"))
    if drivers:
        lines.append(
            f"What matters most for {facts['target_name']}: "
            f"{summary_words.importance_shares(facts['importance'])}."
        )
    return lines


# -- predictions -----------------------------------------------------------------------------


def prediction(target: str, probabilities: Mapping[str, float], top: int = 3) -> str:
    """``survived: no (83 %)``, then the next classes when there are more than two."""
    ranked = sorted(probabilities.items(), key=lambda pair: -pair[1])
    best, p = ranked[0]
    text = f"{target}: {best} ({_percent(p)})"
    if len(ranked) > 2:
        others = ", ".join(f"{label} {_percent(q)}" for label, q in ranked[1:top])
        text += f"; then {others}"
    return text


def _percent(share: float | None) -> str:
    if share is None:
        return words.MISSING
    value = 100 * float(share)
    if 0 < value < 1:
        return "<1 %"
    if 99 < value < 100:
        return ">99 %"
    return f"{value:.0f} %"
