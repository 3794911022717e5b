"""Telegram's flood limits, kept per chat: a 429 holds back the chat it was for, and no other.

Telegram lets a bot send about 30 messages a second to all chats together and 20 a minute to
one group, and answers 429 with `retry_after` to a bot that sends faster. PTB's AIORateLimiter
keeps both limits, but on any 429 it halts every request of the bot until the wait is over,
so one busy group would pause every other chat's replies. This limiter keeps the same two
limits and retries the same way; the wait a 429 asks for applies to its own chat only (and
to the one request, for a call that names no chat: getFile, answerCallbackQuery ...).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from aiolimiter import AsyncLimiter
from telegram.constants import FloodLimit
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

from bot.sending import retry_after_seconds

log = logging.getLogger(__name__)

Result = bool | dict[str, Any] | list[dict[str, Any]]
Callback = Callable[..., Coroutine[Any, Any, Result]]
# What a request's `chat_id` may be: a number, or "@username" for a channel or supergroup.
ChatKey = int | str

# Added to Telegram's retry_after, as PTB does: its clock and ours are not the same clock.
RETRY_AFTER_MARGIN_SECONDS = 0.1
# Past this many, the table of per-group limiters (and of chats held) drops idle entries.
SWEEP_AT = 512


class PerChatRateLimiter(BaseRateLimiter[int]):
    """AIORateLimiter's limits and retries, with a 429 holding back only its own chat.

    `rate_limit_args`, where a call passes it, is that call's number of retries (ExtBot drops
    a 0 on its way here, so a call can ask for more retries, not for none).
    """

    def __init__(
        self,
        *,
        overall_max_rate: float = FloodLimit.MESSAGES_PER_SECOND,
        overall_time_period: float = 1.0,
        group_max_rate: float = FloodLimit.MESSAGES_PER_MINUTE_PER_GROUP,
        group_time_period: float = 60.0,
        max_retries: int = 0,
    ) -> None:
        self._overall = (
            AsyncLimiter(overall_max_rate, overall_time_period)
            if overall_max_rate and overall_time_period
            else None
        )
        self._group_max_rate = group_max_rate if group_time_period else 0.0
        self._group_time_period = group_time_period
        self._groups: dict[ChatKey, AsyncLimiter] = {}
        self._max_retries = max_retries
        # Chat → the loop time until which Telegram asked it to wait.
        self._held_until: dict[ChatKey, float] = {}

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""

    async def process_request(
        self,
        callback: Callback,
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Result:
        retries = self._max_retries if rate_limit_args is None else rate_limit_args
        chat = _chat_key(data.get("chat_id"))
        attempt = 0
        while True:
            if chat is not None:
                await self._wait_for(chat)
            await self._acquire(chat)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                wait = retry_after_seconds(error) + RETRY_AFTER_MARGIN_SECONDS
                extra = {"chat_id": chat} if isinstance(chat, int) else None
                if chat is not None:
                    # Also when no retry is left: the chat's next request waits it out too.
                    self._hold(chat, wait)
                if attempt >= retries:
                    log.info("429 on %s for chat %s; no retry left", endpoint, chat, extra=extra)
                    raise
                attempt += 1
                log.info(
                    "429 on %s: chat %s waits %.1f s (retry %d of %d)",
                    endpoint, chat, wait, attempt, retries, extra=extra,
                )  # fmt: skip
                if chat is None:
                    await asyncio.sleep(wait)

    async def _acquire(self, chat: ChatKey | None) -> None:
        """A place under the group's limit, then under the bot's (AIORateLimiter's order and
        scope: a call that names no chat is not counted)."""
        if chat is None:
            return
        if self._group_max_rate and _is_group(chat):
            await self._group(chat).acquire()
        if self._overall is not None:
            await self._overall.acquire()

    def _group(self, chat: ChatKey) -> AsyncLimiter:
        limiter = self._groups.get(chat)
        if limiter is None:
            if len(self._groups) >= SWEEP_AT:
                # A limiter with all its capacity back has nothing to remember.
                for key, idle in list(self._groups.items()):
                    if idle.has_capacity(idle.max_rate):
                        del self._groups[key]
            limiter = self._groups[chat] = AsyncLimiter(
                self._group_max_rate, self._group_time_period
            )
        return limiter

    def _hold(self, chat: ChatKey, seconds: float) -> None:
        now = asyncio.get_running_loop().time()
        if len(self._held_until) >= SWEEP_AT:
            for key, until in list(self._held_until.items()):
                if until <= now:
                    del self._held_until[key]
        self._held_until[chat] = max(self._held_until.get(chat, now), now + seconds)

    async def _wait_for(self, chat: ChatKey) -> None:
        """Until the wait Telegram asked of this chat is over (a later 429 may lengthen it)."""
        loop = asyncio.get_running_loop()
        while (until := self._held_until.get(chat)) is not None:
            remaining = until - loop.time()
            if remaining <= 0:
                del self._held_until[chat]
                return
            await asyncio.sleep(remaining)


def _chat_key(chat_id: object) -> ChatKey | None:
    """The chat a request is for, as PTB reads it: a number (also when sent as text), or an
    @username; None for a call that names no chat."""
    if chat_id is None:
        return None
    if isinstance(chat_id, int):
        return chat_id
    text = str(chat_id)
    with contextlib.suppress(ValueError):
        return int(text)
    return text


def _is_group(chat: ChatKey) -> bool:
    # Groups, supergroups and channels have negative ids; an @username names one of them.
    return isinstance(chat, str) or chat < 0
