"""The `context` every handler gets: the settings, the store, and a way to call the store."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from telegram.ext import Application, CallbackContext, ExtBot

from bot.parse_pool import ParsePool
from storage.store import Store
from trainbot.settings import Settings

P = ParamSpec("P")
T = TypeVar("T")

SETTINGS = "settings"
STORE = "store"
PARSE_POOL = "parse_pool"


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """CallbackContext with typed access to what `build_application` put in `bot_data`."""

    @property
    def settings(self) -> Settings:
        return self.bot_data[SETTINGS]

    @property
    def store(self) -> Store:
        return self.bot_data[STORE]

    @property
    def parse_pool(self) -> ParsePool:
        """Where uploads are read: bounded child processes (made at the first upload when
        `build_application` did not)."""
        pool = self.bot_data.get(PARSE_POOL)
        if pool is None:
            pool = self.bot_data[PARSE_POOL] = ParsePool.from_settings(self.settings)
        return pool

    async def db(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a storage call in a thread: storage is synchronous and the loop must not wait."""
        return await asyncio.to_thread(call, *args, **kwargs)


BotApplication = Application[
    ExtBot[None], BotContext, dict[Any, Any], dict[Any, Any], dict[Any, Any], Any
]
