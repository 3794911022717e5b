"""The bot's heartbeat: a file it rewrites while it serves, and the check that reads its age.

`trainbot status` answers as long as the database does, whatever the bot is doing. The
heartbeat is written from the bot's own event loop, and only while the loop still receives
updates (polling or webhook) and the delivery loop finished a round lately. A blocked loop,
a stopped updater or a delivery that cannot read storage all let it go stale, and
`trainbot health bot` (the container's health check) then fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0
# Older than this and the bot counts as not serving: a few missed beats, not one slow one.
STALE_SECONDS = 30.0


class Heartbeat:
    """Rewrites `path` with the current time every `interval` seconds while `serving()`."""

    def __init__(
        self, path: Path, serving: Callable[[], bool], interval: float | None = None
    ) -> None:
        self.path = path
        self.serving = serving
        self.interval = HEARTBEAT_SECONDS if interval is None else interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="heartbeat")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        # A bot that stopped is not serving: say so at once rather than after STALE_SECONDS.
        with contextlib.suppress(OSError):
            self.path.unlink()

    async def _run(self) -> None:
        while True:
            if self.serving():
                try:
                    beat(self.path)
                except OSError as error:
                    log.warning("could not write the heartbeat file %s: %s", self.path, error)
            await asyncio.sleep(self.interval)


def beat(path: Path, now: float | None = None) -> None:
    """Write the time atomically: a reader never sees half a file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(f"{time.time() if now is None else now:.3f}\n", encoding="utf-8")
    os.replace(temporary, path)


def check(path: Path, max_age: float = STALE_SECONDS, now: float | None = None) -> str | None:
    """None when the bot beat within `max_age` seconds; otherwise what is wrong, one line."""
    try:
        written = float(path.read_text(encoding="utf-8").strip())
    except FileNotFoundError:
        return f"no heartbeat at {path}: the bot is not running (or not serving yet)"
    except (OSError, ValueError) as error:
        return f"cannot read the heartbeat at {path}: {error}"
    age = (time.time() if now is None else now) - written
    if age > max_age:
        return f"the bot's last heartbeat is {age:.0f} s old (more than {max_age:.0f} s)"
    return None
