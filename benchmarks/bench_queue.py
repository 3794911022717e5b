"""Queue throughput: enqueue → claim → complete for 1,000 jobs, 1 and 4 workers, both databases."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid

from sqlalchemy import create_engine, text

from storage.models import JobKind
from storage.records import ChatRef
from storage.store import Store

JOBS = 1000
DRAIN = """
import sys
from storage.store import Store
store = Store.open(sys.argv[1], upgrade=False)
while (job := store.queue.claim(sys.argv[2])) is not None:
    store.queue.complete(job, result={})
"""


def _throughput(url: str, workers: int) -> tuple[float, float, float]:
    """Jobs/s for enqueueing, for draining (claim + complete) and for the two together."""
    store = Store.open(url)
    store.records.remember(ChatRef(1))
    started = time.perf_counter()
    for _ in range(JOBS):
        store.queue.enqueue(JobKind.TRAIN, chat_id=1, user_id=None, params={})
    enqueued = time.perf_counter()
    processes = [
        subprocess.Popen([sys.executable, "-c", DRAIN, url, f"bench-{i}"]) for i in range(workers)
    ]
    for process in processes:
        process.wait()
    drained = time.perf_counter()
    assert store.queue.counts().succeeded == JOBS
    store.close()
    # Drain time includes starting the worker processes (about a second), as in real life.
    return JOBS / (enqueued - started), JOBS / (drained - enqueued), JOBS / (drained - started)


def _postgres_database(server: str) -> tuple[str, object]:
    name = f"trainbot_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(
        server.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return server.rsplit("/", 1)[0] + f"/{name}", drop


def main() -> str:
    rows = []
    server = os.environ.get(
        "TRAINBOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
    )
    for workers in (1, 4):
        with tempfile.TemporaryDirectory() as tmp:
            rate = _throughput(f"sqlite:///{tmp}/bench.sqlite3", workers)
        rows.append(("SQLite file", workers, *rate))
        url, drop = _postgres_database(server)
        try:
            rows.append(("PostgreSQL", workers, *_throughput(url, workers)))
        finally:
            drop()  # type: ignore[operator]
    lines = [
        "## Queue throughput (enqueue → claim → complete, 1,000 jobs, worker processes)",
        "",
        "| database | workers | enqueue jobs/s | claim+complete jobs/s | end to end jobs/s |",
        "| --- | --- | --- | --- | --- |",
        *[f"| {db} | {w} | {e:,.0f} | {d:,.0f} | {t:,.0f} |" for db, w, e, d, t in sorted(rows)],
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(main())
