"""One handle on everything storage offers, opened from a database URL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from storage.db import Database
from storage.outbox import Outbox
from storage.queue import JobQueue
from storage.quotas import Quotas
from storage.records import Records
from storage.workers import WorkerRegistry

if TYPE_CHECKING:
    from trainbot.settings import Settings


@dataclass
class Store:
    db: Database
    queue: JobQueue
    records: Records
    outbox: Outbox
    workers: WorkerRegistry
    quotas: Quotas

    @classmethod
    def open(
        cls,
        url: str,
        *,
        upgrade: bool = True,
        lease_seconds: float = 30.0,
        max_attempts: int = 3,
        timeout_seconds: float = 900.0,
    ) -> Store:
        """Connect, bring the schema up to date (idempotent) and build the parts."""
        db = Database(url)
        if upgrade:
            db.upgrade()
        return cls(
            db=db,
            queue=JobQueue(
                db,
                lease_seconds=lease_seconds,
                max_attempts=max_attempts,
                timeout_seconds=timeout_seconds,
            ),
            records=Records(db),
            outbox=Outbox(db),
            workers=WorkerRegistry(db),
            quotas=Quotas(db),
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        """Open the configured database with the configured queue behaviour."""
        return cls.open(
            settings.database_url,
            lease_seconds=settings.lease_seconds,
            max_attempts=settings.job_max_attempts,
            timeout_seconds=settings.job_timeout_seconds,
        )

    def close(self) -> None:
        self.queue.notifier.close()
        self.outbox.notifier.close()
        self.db.dispose()
