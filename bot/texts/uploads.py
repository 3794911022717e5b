"""What the bot says about a file it is sent, before any job: too big, not a table, unreadable,
the quotas (unfinished jobs, trainings an hour, bytes kept), and the offer to train on a file
that came without a command."""

from __future__ import annotations

from bot.formatting import duration, esc
from bot.texts.general import TRAIN_EXAMPLE
from trainer.words import size

__all__ = [
    "ALREADY_STARTED",
    "BUTTON_PREDICT",
    "BUTTON_TRAIN",
    "DOWNLOAD_FAILED",
    "FILE_GONE",
    "PHOTO_OF_TABLE",
    "SPREADSHEET",
    "already_training",
    "bad_csv",
    "bad_params",
    "not_csv",
    "offer_training",
    "other_archive",
    "quota_reached",
    "send_csv_now",
    "storage_full",
    "too_big",
    "too_big_for_telegram",
    "training_recent_file",
    "trainings_limit_reached",
]

# How to get a table under the size limit; CSV text shrinks several times when compressed.
_SMALLER = "Send fewer rows, or the table as a zipped CSV (.zip or .gz)."


def too_big(file_size: int, limit: int) -> str:
    return f"That file is {size(file_size)}; the most I can take is {size(limit)}. {_SMALLER}"


def too_big_for_telegram(file_size: int, limit: int) -> str:
    return (
        f"That file is {size(file_size)}, and Telegram lets bots download at most "
        f"{size(limit)}. {_SMALLER}"
    )


def not_csv(filename: str | None) -> str:
    name = f"<b>{esc(filename)}</b>" if filename else "That file"
    return (
        f"{name} isn't a CSV file. I read .csv, .tsv and .txt tables and .xlsx workbooks, also "
        "inside a .zip or .gz."
    )


def other_archive(extension: str) -> str:
    """A .rar, .7z or .tar: say how to send it instead."""
    return (
        f"I can't open {esc(extension)} archives. Please unpack it and send the table itself, or "
        "pack the table as a .zip or .gz."
    )


# A picture of a table (a screenshot, a photo of a printout) has no cells to read.
PHOTO_OF_TABLE = (
    "I can't read tables from pictures. Please send the table itself as a file (📎 → File): "
    "a CSV, or an Excel .xlsx workbook."
)


def training_recent_file(filename: str | None, seconds: float) -> str:
    """A bare /train soon after a file: say which file it trains."""
    name = f"<b>{esc(filename)}</b>" if filename else "the file"
    return f"Training on {name}, the file you sent {duration(seconds)} ago."


def already_training(job_id: int | None) -> str:
    """A tap on an offer whose file is training already (by the button, a reply or /train)."""
    if job_id is None:
        return ALREADY_STARTED
    return f"This file went to training already, as job {job_id}; /status {job_id} shows it."


SPREADSHEET = (
    "I can't read that kind of spreadsheet. Save it as .xlsx or CSV (File → Save as) and send "
    "me that."
)
DOWNLOAD_FAILED = "I couldn't fetch that file from Telegram. Please send it again."


def quota_reached(unfinished: int) -> str:
    return (
        f"This chat already has {unfinished} unfinished jobs. Wait for one to finish, or "
        "stop one with /cancel (see /jobs)."
    )


def trainings_limit_reached(limit: int, wait_seconds: float) -> str:
    return (
        f"You've started {limit} trainings in the last hour, the most I run for one person. "
        f"You can train again in {duration(max(wait_seconds, 1.0))}."
    )


def storage_full(
    stored: int, incoming: int, limit: int, *, has_models: bool, frees_in: float | None
) -> str:
    kept = f"This chat keeps {size(stored)} of uploads, models and plots"
    if stored >= limit:
        text = f"{kept}; the most it may keep is {size(limit)}."
    else:
        text = f"{kept}; with this file it would pass the {size(limit)} it may keep."
    ways = []
    if has_models:
        ways.append("delete models you no longer need (/models, then <code>/delete v2</code>)")
    if frees_in is not None:
        ways.append(f"try again in {duration(frees_in)}, when the oldest files are cleared")
    if ways:
        text += " Please " + ", or ".join(ways) + "."
    return text


def bad_csv(sentence: str) -> str:
    return f"I can't use that file: {esc(sentence)}"


def bad_params(sentence: str) -> str:
    return f"{esc(sentence)}\nFor example: <code>{esc(TRAIN_EXAMPLE)}</code>"


def send_csv_now(minutes: float, *, group: bool) -> str:
    # In groups the bot sees only commands and replies to itself (privacy mode).
    how = "reply to this message with the CSV file" if group else "send me the CSV file"
    return f"OK – now {how} (within {minutes:g} minutes) and I'll train on it."


def offer_training(filename: str | None) -> str:
    name = f"<b>{esc(filename)}</b>" if filename else "this file"
    return f"Shall I train a model on {name}?"


BUTTON_TRAIN = "Train on this file"
BUTTON_PREDICT = "Predict with model v{version}"
FILE_GONE = "I can't find that file any more. Please send it again."
ALREADY_STARTED = "Already on it."
