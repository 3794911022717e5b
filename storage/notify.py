"""Wake-ups for waiting workers and the bot: in-process events, LISTEN/NOTIFY on PostgreSQL,
and on SQLite a watch on the file's data version (other processes on the same host).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from typing import TYPE_CHECKING

from sqlalchemy import text

if TYPE_CHECKING:
    import psycopg
    from sqlalchemy.orm import Session

    from storage.db import Database

log = logging.getLogger(__name__)

JOBS = "trainbot_jobs"
OUTBOX = "trainbot_outbox"
CHANNELS = (JOBS, OUTBOX)
# How often a SQLite waiter looks at the data version: a few microseconds each time.
SQLITE_TICK_SECONDS = 0.01

_local_events: dict[tuple[str, str], threading.Event] = {}
_local_lock = threading.Lock()


def _local_event(database: str, channel: str) -> threading.Event:
    with _local_lock:
        return _local_events.setdefault((database, channel), threading.Event())


class Notifier:
    """Publishes "something changed on CHANNEL" and lets a thread wait for it.

    Polling stays the safety net: a wake-up is only a hint to look now rather than later.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._key = db.url.render_as_string(hide_password=True)
        self._listeners: dict[str, _PostgresListener | _SqliteWatcher] = {}
        self._listeners_lock = threading.Lock()

    def publish_in(self, session: Session, channel: str) -> None:
        """Queue a cross-host notification that PostgreSQL delivers when `session` commits."""
        if self.db.is_postgres:
            session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": channel})

    def wake_local(self, channel: str) -> None:
        """Wake waiters in this process (call after the commit that made the change)."""
        _local_event(self._key, channel).set()

    def wait(self, channel: str, timeout: float) -> bool:
        """Block up to `timeout` seconds for a wake-up on `channel`; True if one came."""
        event = _local_event(self._key, channel)
        if event.is_set():
            event.clear()
            return True
        listener = self._listener(channel)
        woke = listener.wait(timeout, event) if listener is not None else event.wait(timeout)
        event.clear()
        return woke

    def close(self) -> None:
        with self._listeners_lock:
            for listener in self._listeners.values():
                listener.close()
            self._listeners.clear()

    def _listener(self, channel: str) -> _PostgresListener | _SqliteWatcher | None:
        """What hears other processes' changes: None for an in-memory SQLite database."""
        with self._listeners_lock:
            if channel not in self._listeners:
                if self.db.is_postgres:
                    self._listeners[channel] = _PostgresListener(self.db, channel)
                elif self.db.url.database not in (None, "", ":memory:"):
                    try:
                        self._listeners[channel] = _SqliteWatcher(self.db.url.database)
                    except sqlite3.Error as exc:
                        log.warning("cannot watch the database for changes (%s); polling", exc)
                        return None
                else:
                    return None
            return self._listeners[channel]


class _PostgresListener:
    """One autocommit connection that LISTENs on one channel, reconnecting after failures."""

    def __init__(self, db: Database, channel: str) -> None:
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r}")
        self._conninfo = db.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._channel = channel
        self._conn: psycopg.Connection | None = None
        self._lock = threading.Lock()

    def _connect(self) -> psycopg.Connection:
        import psycopg

        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5)
            # The channel is one of CHANNELS, a constant, so the f-string injects nothing.
            self._conn.execute(f"LISTEN {self._channel}")
        return self._conn

    def wait(self, timeout: float, _local: threading.Event) -> bool:
        # This process's own changes need no local event here: it publishes them with NOTIFY.
        import psycopg

        with self._lock:
            try:
                return any(True for _ in self._connect().notifies(timeout=timeout, stop_after=1))
            except psycopg.Error as exc:
                log.warning("lost the LISTEN connection (%s); polling until it is back", exc)
                self.close()
                time.sleep(min(timeout, 1.0))
                return False

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


class _SqliteWatcher:
    """SQLite has no LISTEN/NOTIFY; instead a connection of its own polls PRAGMA data_version.

    The version changes whenever another connection commits to the file, whichever process it
    belongs to, so a worker or a bot in another process hears of a change within a tick rather
    than a poll interval. It cannot tell channels apart: any commit wakes every waiter, which a
    hint may do.
    """

    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._version = self._read()

    def _read(self) -> int:
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def wait(self, timeout: float, local: threading.Event) -> bool:
        deadline = time.monotonic() + timeout
        with self._lock:
            while not self._closed.is_set():
                try:
                    version = self._read()
                except sqlite3.Error as exc:
                    log.warning("cannot watch the database for changes (%s); polling", exc)
                    break
                if version != self._version:
                    self._version = version
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                if local.wait(min(SQLITE_TICK_SECONDS, remaining)):
                    return True
        return local.wait(max(deadline - time.monotonic(), 0.0))

    def close(self) -> None:
        # A waiter notices within a tick and lets go of the connection before it is closed.
        self._closed.set()
        with self._lock:
            self._conn.close()
