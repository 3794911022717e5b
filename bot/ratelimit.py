"""A per-chat limit on `/predict`: at most N requests in any W seconds, told once when exceeded.

Every accepted `/predict` becomes a job that the workers take in the order it came and an
answer that shares Telegram's 30 messages a second, so one chat flooding it would make every
other chat wait. Requests over the limit are refused before they cost a database call; the chat
is told once per window, since a reply to each would be a flood of its own.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from telegram import Update

from bot import formatting, replies, texts
from bot.context import BotContext

log = logging.getLogger(__name__)

Handler = Callable[[Update, BotContext], Awaitable[Any]]


@dataclass
class _Chat:
    accepted: deque[float] = field(default_factory=deque)
    told_until: float = -math.inf


class ChatRateLimit:
    """At most `limit` accepted requests per chat in any `window` seconds (a sliding window)."""

    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._chats: dict[int, _Chat] = {}

    def try_acquire(self, chat_id: int) -> float:
        """0 when the request may go ahead (and is counted); else seconds until one may."""
        now = self._clock()
        self._forget_idle(now)
        chat = self._chats.setdefault(chat_id, _Chat())
        while chat.accepted and chat.accepted[0] <= now - self.window:
            chat.accepted.popleft()
        if len(chat.accepted) < self.limit:
            chat.accepted.append(now)
            return 0.0
        return max(chat.accepted[0] + self.window - now, 0.001)

    def should_tell(self, chat_id: int, wait: float) -> bool:
        """True for the first refusal of a chat until `wait` has passed (say it once, not 100x)."""
        now = self._clock()
        chat = self._chats.setdefault(chat_id, _Chat())
        if now < chat.told_until:
            return False
        chat.told_until = now + wait
        return True

    def _forget_idle(self, now: float) -> None:
        # Bounded memory: a chat whose requests are all older than the window has nothing to
        # remember. Swept only when the table has grown, so the cost is spread thin.
        if len(self._chats) < 1024:
            return
        idle = [
            chat_id
            for chat_id, chat in self._chats.items()
            if (not chat.accepted or chat.accepted[-1] <= now - self.window)
            and chat.told_until <= now
        ]
        for chat_id in idle:
            del self._chats[chat_id]


def limited(callback: Handler, limit: ChatRateLimit) -> Handler:
    """`callback`, run only while its chat is within `limit`; otherwise a short refusal."""

    @functools.wraps(callback)
    async def guarded(update: Update, context: BotContext) -> Any:
        chat = update.effective_chat
        if chat is None:
            return await callback(update, context)
        wait = limit.try_acquire(chat.id)
        if not wait:
            return await callback(update, context)
        log.info("chat %s is over the /predict limit", chat.id, extra={"chat_id": chat.id})
        text = texts.predict_rate_limited(limit.limit, limit.window, wait)
        if update.callback_query is not None:
            # A pressed button spins until answered: every press gets its (small) answer.
            await update.callback_query.answer(formatting.plain(text), show_alert=True)
        elif update.effective_message is not None and limit.should_tell(chat.id, wait):
            await replies.reply(update.effective_message, text)
        return None

    return guarded
