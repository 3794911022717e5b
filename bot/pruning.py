"""Retention on by default: the bot prunes old rows at start and every TRAINBOT_PRUNE_INTERVAL.

An open bot that kept every upload, plot and model for ever would fill its disk, and an
operator should not have to remember a cron job for that. The bot is the one process every
deployment has (workers come and go), so it prunes; `trainbot db prune` does the same on
demand. What goes and what always stays is storage.retention's to say.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from storage.retention import Retention, prune
from storage.store import Store

log = logging.getLogger(__name__)


class Pruner:
    """Runs `prune` in a thread at start and then every `interval` seconds, until stopped."""

    def __init__(self, store: Store, retention: Retention, interval: float) -> None:
        self.store = store
        self.retention = retention
        self.interval = interval
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="pruning")

    async def stop(self) -> None:
        """Stop; a prune in progress finishes first (it is one transaction on a thread)."""
        self._stopping.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                pruned = await asyncio.to_thread(prune, self.store.db, self.retention)
            except Exception as error:
                # The database may be away for a while; the next round tries again.
                log.warning("pruning old rows failed: %s", error)
            else:
                if pruned:
                    log.info(
                        "retention deleted %d uploads, %d files, %d delivered messages, "
                        "%d finished jobs and %d old models",
                        pruned.datasets, pruned.artifacts, pruned.outbox, pruned.jobs,
                        pruned.models,
                    )  # fmt: skip
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval)
