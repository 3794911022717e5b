"""Answering a user from a handler, retrying the failures that are safe to retry.

429s are retried by the rate limiter (bot.flood), after the wait Telegram asked of the chat.
Here: Telegram's 5xx answers and connection failures, a few times with a short backoff. A
timeout is not retried: the message may have arrived, and a handler's answer is not worth the
risk of saying it twice.
An answer whose HTML Telegram cannot parse is sent again as plain text.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from telegram import InlineKeyboardMarkup, Message
from telegram.error import BadRequest, NetworkError, TimedOut
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from bot.context import BotContext
from bot.sending import html_or_plain

log = logging.getLogger(__name__)

T = TypeVar("T")

ATTEMPTS = 3
BACKOFF_SECONDS = 0.5


def _transient(error: BaseException) -> bool:
    # BadRequest and TimedOut are NetworkErrors too, but neither gets better by sending again.
    return isinstance(error, NetworkError) and not isinstance(error, (BadRequest, TimedOut))


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome is not None else None
    log.warning("Telegram call failed (%s); retrying", error)


async def retrying(call: Callable[[], Awaitable[T]], attempts: int = ATTEMPTS) -> T:
    """Await `call()`, calling it again after a transient network failure."""
    async for attempt in AsyncRetrying(
        retry=retry_if_exception(_transient),
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=BACKOFF_SECONDS, min=BACKOFF_SECONDS),
        before_sleep=_log_retry,
        reraise=True,
    ):
        with attempt:
            return await call()
    raise AssertionError("unreachable")


async def _html_or_plain(call: Callable[[dict[str, Any], str], Awaitable[T]], text: str) -> T:
    """`call(mode, text)` as HTML, or as plain text if Telegram cannot parse the HTML; each
    retried after a transient failure."""
    return await html_or_plain(lambda mode, t: retrying(lambda: call(mode, t)), text)


async def reply(
    message: Message, text: str, *, keyboard: InlineKeyboardMarkup | None = None, **kwargs: Any
) -> Message:
    """Answer `message` (quoted, so it reads well in groups) with HTML text."""
    return await _html_or_plain(
        lambda mode, t: message.reply_text(t, reply_markup=keyboard, **kwargs, **mode), text
    )


async def edit(message: Message, text: str) -> Message:
    """Replace the text of one of the bot's messages (and drop its buttons)."""
    edited = await _html_or_plain(lambda mode, t: message.edit_text(t, **mode), text)
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
