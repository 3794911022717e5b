"""Answering a user from a handler, retrying the failures that are safe to retry.

429s are retried by the AIORateLimiter (honouring retry_after). Here: Telegram's 5xx answers
and connection failures, a few times with a short backoff. A timeout is not retried: the
message may have arrived, and a handler's answer is not worth the risk of saying it twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from telegram import InlineKeyboardMarkup, Message
from telegram.error import BadRequest, NetworkError, TimedOut

from bot.context import BotContext

log = logging.getLogger(__name__)

T = TypeVar("T")

ATTEMPTS = 3
BACKOFF_SECONDS = 0.5


async def retrying(call: Callable[[], Awaitable[T]], attempts: int = ATTEMPTS) -> T:
    """Await `call()`, calling it again after a transient network failure."""
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except (BadRequest, TimedOut):
            raise
        except NetworkError as error:
            if attempt == attempts:
                raise
            log.warning("Telegram call failed (%s); retrying", error)
            await asyncio.sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


async def reply(
    message: Message, text: str, *, keyboard: InlineKeyboardMarkup | None = None, **kwargs: Any
) -> Message:
    """Answer `message` (quoted, so it reads well in groups) with HTML text."""
    return await retrying(lambda: message.reply_text(text, reply_markup=keyboard, **kwargs))


async def edit(message: Message, text: str) -> Message:
    """Replace the text of one of the bot's messages (and drop its buttons)."""
    edited = await retrying(lambda: message.edit_text(text))
    return edited if isinstance(edited, Message) else message


async def answer(text: str, *, to: Message, replacing: Message | None = None) -> Message:
    """Reply to `to`, or turn one of the bot's own messages (an offer with buttons) into it."""
    if replacing is not None:
        return await edit(replacing, text)
    return await reply(to, text)


async def acknowledge_job(
    context: BotContext,
    chat_id: int,
    job_id: int,
    text: str,
    *,
    to: Message,
    replacing: Message | None = None,
) -> None:
    """Answer that a job is queued; the answer becomes the message its progress is shown in."""
    message = await answer(text, to=to, replacing=replacing)
    records = context.store.records
    await context.db(records.set_progress_message, chat_id, job_id, message.message_id)
