"""Updates of different chats in parallel, of one chat one at a time and in the order they came.

One chat's requests depend on each other (`/train` and then the file; two taps on one button),
so they must not overlap; other chats need not wait behind a slow download or a busy database.

PTB's BaseUpdateProcessor takes its concurrency slot *before* `do_process_update`, so a chat's
updates waiting for their turn would each hold a slot: 32 queued updates of one busy chat would
hold them all and every other chat would wait. Here a chat first waits for its own turn, and
only the update whose turn it is takes one of the shared slots: a chat holds one slot at most.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

# PTB's own semaphore is made too wide to ever bind; the real limit is `_slots` below. PTB
# creates a task per update whatever the limit, so this adds no tasks and no memory.
_UNBOUNDED = sys.maxsize


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Runs updates concurrently, except that two of the same chat never overlap."""

    def __init__(self, max_concurrent_updates: int) -> None:
        if max_concurrent_updates < 1:
            raise ValueError("max_concurrent_updates must be a positive integer")
        # PTB builds its semaphore from the `max_concurrent_updates` property: unbounded while
        # it does, the real limit afterwards.
        self._limit = _UNBOUNDED
        super().__init__(_UNBOUNDED)
        self._limit = max_concurrent_updates
        self._slots = asyncio.Semaphore(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: dict[int, int] = {}
        self._running = 0

    @property
    def max_concurrent_updates(self) -> int:
        """Updates handled at the same time, at most (each of a different chat)."""
        return self._limit

    @property
    def current_concurrent_updates(self) -> int:
        """Updates being handled now (not counting those waiting for their chat's turn)."""
        return self._running

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await self._in_a_slot(coroutine)
            return
        # asyncio.Lock wakes its waiters first come, first served: the chat's order holds.
        lock = self._locks.setdefault(chat.id, asyncio.Lock())
        self._users[chat.id] = self._users.get(chat.id, 0) + 1
        try:
            async with lock:
                await self._in_a_slot(coroutine)
        finally:
            self._users[chat.id] -= 1
            if not self._users[chat.id]:
                del self._users[chat.id], self._locks[chat.id]

    async def _in_a_slot(self, coroutine: Awaitable[Any]) -> None:
        # asyncio.Semaphore is first come, first served too, and each chat has one waiter here
        # at most: busy chats take turns with quiet ones instead of going first.
        async with self._slots:
            self._running += 1
            try:
                await coroutine
            finally:
                self._running -= 1

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to tear down."""
