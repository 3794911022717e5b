"""Wake-ups for waiting workers and the bot: in-process events, LISTEN/NOTIFY on PostgreSQL,
and on SQLite a watch on the file's data version (other processes on the same host).

Each channel has a counter per process and database (a "generation") that every change seen
raises. A waiter remembers the generation of its last look at the queue or the outbox, and
sleeps only while nothing newer has come: nothing is consumed, so any number of waiters (the
worker's prediction and training lanes, the bot's delivery) each hear every wake-up, and a
change that lands between a look and the wait that follows it still wakes that wait. One
listener per process hears the other processes: one LISTEN connection on PostgreSQL, one
thread reading PRAGMA data_version on SQLite while anybody waits.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from typing import TYPE_CHECKING

from sqlalchemy import text

if TYPE_CHECKING:
    from sqlalchemy.engine import URL
    from sqlalchemy.orm import Session

    from storage.db import Database

log = logging.getLogger(__name__)

JOBS = "trainbot_jobs"
OUTBOX = "trainbot_outbox"
CHANNELS = (JOBS, OUTBOX)
# How often the SQLite watcher looks at the data version while somebody waits: microseconds.
SQLITE_TICK_SECONDS = 0.005
# How long a first look waits for the listener to be listening (a PostgreSQL connect).
LISTEN_READY_SECONDS = 5.0
# How long the PostgreSQL listener blocks before it checks whether it should stop.
LISTEN_SLICE_SECONDS = 1.0
# TCP keepalives on the LISTEN connection: a silently dead link (a host cut off) is noticed in
# about 25 s and the connection made again, instead of waiting on it for the kernel's hours.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
              "keepalives_count": 3}  # fmt: skip


class Notifier:
    """Publishes "something changed on CHANNEL" and lets a thread wait for it.

    Polling stays the safety net: a wake-up is only a hint to look now rather than later.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._hub = _hub_for(db)
        self._closed = False
        # Per thread and channel: the generation of the thread's last look (see `look`).
        self._seen = threading.local()

    def publish_in(self, session: Session, channel: str) -> None:
        """Queue a cross-host notification that PostgreSQL delivers when `session` commits."""
        if self.db.is_postgres:
            session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": channel})

    def wake_local(self, channel: str) -> None:
        """Wake waiters in this process (call after the commit that made the change)."""
        self._hub.bump((channel,))

    def look(self, channel: str) -> int:
        """Say that this thread is about to look for work on `channel`: its next `wait` returns
        at once if anything changes from now on. Returns the generation, a token for `wait`."""
        generation = self._hub.generation(channel)
        setattr(self._seen, channel, generation)
        return generation

    def wait(self, channel: str, timeout: float, since: int | None = None) -> bool:
        """Block up to `timeout` seconds for a change on `channel` newer than `since` (by
        default this thread's last look or wait); True if one came."""
        if since is None:
            since = getattr(self._seen, channel, None)
        if since is None:
            since = self._hub.generation(channel)
        woke, generation = self._hub.wait(channel, since, timeout)
        setattr(self._seen, channel, generation)
        return woke

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._hub.release()


class _Hub:
    """The generations of one database's channels in this process, and what raises them."""

    def __init__(self, key: str, url: URL, dialect: str) -> None:
        self.key = key
        self.users = 0
        self.waiters = 0
        self.closed = False
        self.changed = threading.Condition()
        self.generations = dict.fromkeys(CHANNELS, 0)
        self._url = url
        self._dialect = dialect
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def bump(self, channels: tuple[str, ...] = CHANNELS) -> None:
        with self.changed:
            for channel in channels:
                self.generations[channel] += 1
            self.changed.notify_all()

    def generation(self, channel: str) -> int:
        self._start()
        with self.changed:
            return self.generations[channel]

    def wait(self, channel: str, since: int, timeout: float) -> tuple[bool, int]:
        self._start()
        with self.changed:
            self.waiters += 1
            self.changed.notify_all()  # an idle SQLite watcher starts ticking
            try:
                woke = self.changed.wait_for(
                    lambda: self.generations[channel] > since, max(timeout, 0.0)
                )
            finally:
                self.waiters -= 1
            return woke, self.generations[channel]

    def release(self) -> None:
        with _hubs_lock:
            self.users -= 1
            if self.users > 0:
                return
            _hubs.pop(self.key, None)
        with self.changed:
            self.closed = True
            self.changed.notify_all()

    def _start(self) -> None:
        """Start the listener once, and wait until it listens: a change made after a look must
        reach the waiter that follows it."""
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    target = self._listen_postgres if self._dialect == "postgresql" else None
                    database = self._url.database
                    if target is None and database not in (None, "", ":memory:"):
                        target = self._watch_sqlite
                    if target is None:
                        self._ready.set()  # in-memory SQLite: one process, local wake-ups
                    self._thread = threading.Thread(
                        target=target or (lambda: None), name="trainbot-notify", daemon=True
                    )
                    self._thread.start()
        self._ready.wait(LISTEN_READY_SECONDS)

    # -- PostgreSQL ----------------------------------------------------------------------------

    def _listen_postgres(self) -> None:
        import psycopg

        conninfo = self._url.set(drivername="postgresql").render_as_string(hide_password=False)
        failures = 0
        while not self.closed:
            try:
                with psycopg.connect(
                    conninfo, autocommit=True, connect_timeout=5, **KEEPALIVES
                ) as conn:
                    for channel in CHANNELS:
                        # A channel is one of CHANNELS, a constant: the f-string injects nothing.
                        conn.execute(f"LISTEN {channel}")
                    if failures:
                        log.info("listening for wake-ups again")
                        # Whatever was announced while nobody listened: everyone looks again.
                        self.bump()
                    failures = 0
                    self._ready.set()
                    while not self.closed:
                        # Each one as it comes: the generator runs until the slice is over.
                        for heard in conn.notifies(timeout=LISTEN_SLICE_SECONDS):
                            if heard.channel in CHANNELS:
                                self.bump((heard.channel,))
            except psycopg.Error as exc:
                if self.closed:
                    return
                failures += 1
                if failures == 1:
                    log.warning("lost the LISTEN connection (%s); polling until it is back", exc)
                self._ready.set()  # waiters poll meanwhile
                self._sleep(min(0.5 * 2**failures, 10.0))

    def _sleep(self, seconds: float) -> None:
        with self.changed:
            self.changed.wait_for(lambda: self.closed, seconds)

    # -- SQLite --------------------------------------------------------------------------------

    def _watch_sqlite(self) -> None:
        """SQLite has no LISTEN/NOTIFY; PRAGMA data_version on a connection of our own changes
        whenever another connection commits to the file, whichever process it belongs to. It
        cannot tell channels apart: any commit wakes every waiter, which a hint may do."""
        try:
            conn = sqlite3.connect(str(self._url.database), check_same_thread=False,
                                   isolation_level=None)  # fmt: skip
            version = _data_version(conn)
        except sqlite3.Error as exc:
            log.warning("cannot watch the database for changes (%s); polling", exc)
            self._ready.set()
            return
        self._ready.set()
        try:
            while True:
                with self.changed:
                    # Idle while nobody waits: the version read next compares with the last
                    # one read, so a commit meanwhile still wakes the next waiter.
                    self.changed.wait_for(lambda: self.waiters > 0 or self.closed)
                    if self.closed:
                        return
                try:
                    now = _data_version(conn)
                except sqlite3.Error as exc:
                    log.warning("cannot watch the database for changes (%s); polling", exc)
                    return
                if now != version:
                    version = now
                    self.bump()
                time.sleep(SQLITE_TICK_SECONDS)
        finally:
            conn.close()


def _data_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA data_version").fetchone()[0])


_hubs: dict[str, _Hub] = {}
_hubs_lock = threading.Lock()


def _hub_for(db: Database) -> _Hub:
    """The process's hub for `db`'s database, shared by every Notifier on it."""
    database = db.url.database
    if db.is_postgres or database not in (None, "", ":memory:"):
        key = db.url.render_as_string(hide_password=False)
    else:
        key = f"memory:{id(db)}"  # each in-memory database is a database of its own
    with _hubs_lock:
        hub = _hubs.get(key)
        if hub is None:
            hub = _hubs[key] = _Hub(key, db.url, db.dialect)
        hub.users += 1
        return hub


def _forget_hubs() -> None:
    # A forked child has none of its parent's listener threads (and maybe a lock held by one
    # of them): new Notifiers there start afresh.
    global _hubs_lock
    _hubs.clear()
    _hubs_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_hubs)
