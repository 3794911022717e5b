"""The registry of worker processes, kept alive by heartbeats, for `trainbot status` and
`trainbot health worker`. Beats carry the database's clock, so hosts' clocks need not agree."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from storage.clock import db_now
from storage.db import Database
from storage.models import Worker

# A worker beats at least this often, idle or busy (trainer.worker.loop). One silent for
# STALE_SECONDS, a few missed beats rather than one slow one, is not serving
# (`trainbot health worker`).
BEAT_SECONDS = 5.0
STALE_SECONDS = 30.0


@dataclass(frozen=True)
class WorkerInfo:
    name: str
    hostname: str
    pid: int
    backend: str | None
    device: str | None
    heartbeat_at: datetime
    current_job_id: int | None


class WorkerRegistry:
    def __init__(self, db: Database) -> None:
        self.db = db

    def register(
        self, name: str, *, hostname: str, pid: int, backend: str | None, device: str | None
    ) -> None:
        with self.db.session() as session:
            worker = session.get(Worker, name) or Worker(name=name)
            worker.hostname, worker.pid = hostname, pid
            worker.backend, worker.device = backend, device
            worker.started_at, worker.heartbeat_at = db_now(), db_now()
            worker.stopped_at, worker.current_job_id = None, None
            session.add(worker)

    def beat(self, name: str, current_job_id: int | None) -> None:
        with self.db.session() as session:
            session.execute(
                update(Worker)
                .where(Worker.name == name)
                .values(heartbeat_at=db_now(), current_job_id=current_job_id)
            )

    def stopped(self, name: str) -> None:
        with self.db.session() as session:
            session.execute(
                update(Worker)
                .where(Worker.name == name)
                .values(stopped_at=db_now(), current_job_id=None)
            )

    def alive(self, within_seconds: float) -> list[WorkerInfo]:
        """Workers that have beaten their heart within the last `within_seconds`."""
        with self.db.session() as session:
            rows = session.scalars(
                select(Worker)
                .where(Worker.heartbeat_at >= db_now(-within_seconds), Worker.stopped_at.is_(None))
                .order_by(Worker.name)
            )
            return [
                WorkerInfo(
                    w.name, w.hostname, w.pid, w.backend, w.device, w.heartbeat_at, w.current_job_id
                )
                for w in rows
            ]
