"""What the bot says about a file it is sent, before any job: too big, not a table, unreadable,
the chat's quota, and the offer to train on a file that came without a command."""

from __future__ import annotations

from bot.formatting import esc
from bot.texts.general import TRAIN_EXAMPLE
from trainer.words import size

__all__ = [
    "ALREADY_STARTED",
    "BUTTON_PREDICT",
    "BUTTON_TRAIN",
    "DOWNLOAD_FAILED",
    "FILE_GONE",
    "SPREADSHEET",
    "bad_csv",
    "bad_params",
    "not_csv",
    "offer_training",
    "quota_reached",
    "send_csv_now",
    "too_big",
    "too_big_for_telegram",
]


def too_big(file_size: int, limit: int) -> str:
    return f"That file is {size(file_size)}; the most I can take is {size(limit)}."


def too_big_for_telegram(file_size: int, limit: int) -> str:
    return (
        f"That file is {size(file_size)}, and Telegram lets bots download at most "
        f"{size(limit)}. Please send a smaller file."
    )


def not_csv(filename: str | None) -> str:
    name = f"<b>{esc(filename)}</b>" if filename else "That file"
    return f"{name} isn't a CSV file. I read .csv, .tsv and .txt tables, and .xlsx workbooks."


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
