"""Waiting in tests for something that another thread, process or event loop makes true.

A deadline only bounds a wait that would otherwise hang; it asserts nothing about speed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

POLL_SECONDS = 0.05


def wait_until(
    condition: Callable[[], bool], timeout: float = 120.0, describe: Callable[[], str] = str
) -> None:
    """Return once `condition()` is true; fail after `timeout` s, saying `describe()`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached in time; {describe()}")
        time.sleep(POLL_SECONDS)


async def until(
    condition: Callable[[], bool], within: float = 120.0, describe: Callable[[], str] = str
) -> None:
    """`wait_until` from a coroutine, in a thread: the condition may call storage, and the
    event loop goes on serving the bot meanwhile."""
    await asyncio.to_thread(wait_until, condition, within, describe)
