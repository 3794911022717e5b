"""Sending one outbox message to Telegram, and telling the failures a retry can fix.

`send` turns an outbox row into a text, photo or file message; `html_or_plain` sends HTML and
falls back to plain text when Telegram cannot parse it (handlers' answers use it too). The
rest classifies failures for the delivery loop (bot.delivery): how long to wait, and what no
retry can fix.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any, TypeVar

from telegram import Bot, InputFile, ReplyParameters
from telegram.constants import FileSizeLimit
from telegram.error import BadRequest, NetworkError, RetryAfter
from telegram.warnings import PTBDeprecationWarning

from bot import formatting, texts
from storage.store import Store
from storage.views import ArtifactInfo, OutboxItem

log = logging.getLogger(__name__)

T = TypeVar("T")

# Backoff for network trouble and Telegram's 5xx: 2, 4, 8 ... seconds, capped.
RETRY_BASE_SECONDS = 2.0
RETRY_CAP_SECONDS = 60.0

# What each kind of outbox message says, as text or as a file's caption.
TEXT_MESSAGES: Mapping[str, Callable[[Mapping[str, Any]], str]] = {
    "train_summary": texts.train_summary,
    "predictions": texts.predictions,
    "job_failed": texts.job_failed,
    "job_cancelled": texts.job_cancelled,
}
FILE_MESSAGES: Mapping[str, Callable[[Mapping[str, Any]], str]] = {
    "train_plot": texts.plot_caption,
    "predictions_csv": texts.predictions_csv_caption,
}


class Undeliverable(Exception):
    """A message that no retry can send (its file is gone or too large, or an unknown kind)."""

    def __init__(self, reason: str, *, too_large: bool = False) -> None:
        super().__init__(reason)
        self.too_large = too_large


async def send(bot: Bot, store: Store, message: OutboxItem) -> int:
    """Send one outbox message as what its kind says (text, photo, file); Telegram's id of it."""
    payload = message.payload or {}
    reply = reply_to(message.reply_to_message_id)
    chat_id = message.chat_id
    if message.kind in TEXT_MESSAGES:
        text = TEXT_MESSAGES[message.kind](payload)
        sent = await html_or_plain(
            lambda mode, t: bot.send_message(chat_id, t, reply_parameters=reply, **mode),
            text,
        )
    elif message.kind in FILE_MESSAGES:
        artifact = await _artifact(store, message)
        file = InputFile(artifact.content, filename=artifact.filename)
        caption = FILE_MESSAGES[message.kind](payload)
        # Telegram takes photos up to 10 MB; a larger image still goes, as a file.
        as_photo = (
            artifact.content_type.startswith("image/")
            and artifact.size_bytes <= FileSizeLimit.PHOTOSIZE_UPLOAD
        )
        send = bot.send_photo if as_photo else bot.send_document
        sent = await html_or_plain(
            lambda mode, c: send(chat_id, file, caption=c, reply_parameters=reply, **mode),
            caption,
        )
    else:
        raise Undeliverable(f"unknown outbox message kind {message.kind!r}")
    return sent.message_id


async def _artifact(store: Store, message: OutboxItem) -> ArtifactInfo:
    artifact = None
    if message.artifact_id is not None:
        artifact = await asyncio.to_thread(store.outbox.artifact, message.artifact_id)
    if artifact is None or artifact.chat_id != message.chat_id:
        raise Undeliverable(f"the file of outbox message {message.id} is gone")
    if artifact.size_bytes > FileSizeLimit.FILESIZE_UPLOAD:
        # Telegram would answer 413 after the whole upload: refuse before sending it.
        raise Undeliverable(
            f"the file of outbox message {message.id} is {artifact.size_bytes} bytes, "
            f"over Telegram's {int(FileSizeLimit.FILESIZE_UPLOAD)}",
            too_large=True,
        )
    return artifact


async def html_or_plain(send: Callable[[dict[str, Any], str], Awaitable[T]], text: str) -> T:
    """`send(mode, text)` as HTML, and as plain text if Telegram cannot parse the HTML.

    Texts escape what users wrote, so this should not happen; if it does (a cut tag, a stray
    "<"), the chat still gets its result, without formatting, instead of nothing.
    """
    try:
        return await send({}, text)
    except BadRequest as error:
        if "can't parse entities" not in error.message.lower():
            raise
        log.warning("Telegram could not parse a message (%s); sending it as plain text", error)
    return await send({"parse_mode": None}, formatting.plain(text))


def reply_to(message_id: int | None) -> ReplyParameters | None:
    if not message_id:
        return None
    return ReplyParameters(message_id, allow_sending_without_reply=True)


def too_large(error: NetworkError) -> bool:
    # PTB turns Telegram's 413 into a plain NetworkError; its text is all that tells it apart.
    message = error.message.lower()
    return "too large" in message or "(413)" in message


def backoff_seconds(attempt: int) -> float:
    """The wait before try `attempt + 1` after network trouble: 2, 4, 8 ... seconds, capped."""
    return min(RETRY_BASE_SECONDS * 2 ** max(attempt - 1, 0), RETRY_CAP_SECONDS)


def retry_after_seconds(error: RetryAfter) -> float:
    """The wait Telegram asked for, in seconds, whichever type this PTB version reports."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    return max(seconds, 0.1)
