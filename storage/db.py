"""Engines, short-lived sessions and schema migrations for SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, column, create_engine, event, func, select, table
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DisconnectionError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# The newest migration in migrations/versions; a test checks that Alembic agrees.
HEAD_REVISION = "0006"
SQLITE_BUSY_TIMEOUT_MS = 30_000
# A pooled PostgreSQL connection idle longer than this is checked before it is used again.
PING_AFTER_IDLE_SECONDS = 1.0
# The key of the PostgreSQL advisory lock that migrations run under: any fixed number does, as
# long as nothing else in the database uses it.
MIGRATION_LOCK_KEY = 0x7472_6169_6E62_6F74  # "trainbot" in ASCII


def normalize_url(url: str) -> URL:
    """Accept the usual spellings of a PostgreSQL URL and pick the psycopg 3 driver for them."""
    parsed = make_url(
        url.replace("postgres://", "postgresql://", 1) if url.startswith("postgres://") else url
    )
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


class Database:
    """One engine and its session factory; the way the rest of the code reaches the database."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalize_url(url)
        self.engine = _create_engine(self.url, echo=echo)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session inside one transaction: committed on success, rolled back on error."""
        with self._sessions() as session, session.begin():
            yield session

    def upgrade(self, revision: str = "head") -> None:
        """Bring the schema up to `revision` with Alembic (the only way the schema is created).

        Every process does this at start, so several may do it at once on an empty database;
        they take turns under a lock (see `_migration_lock`) and the later ones find nothing
        left to do, instead of racing to create the same tables. A schema already at the head
        is seen with one query, without loading Alembic: it and its template engine cost the
        bot 14 MB of its 150 MB. That query too waits for the lock: the first connection to a
        new SQLite file turns it to WAL, and SQLite refuses two such switches at once with
        "database is locked" rather than waiting its busy timeout.
        """
        with self._migration_lock() as connection:
            if revision == "head" and _revision_on(connection) == HEAD_REVISION:
                return
            from alembic import command

            command.upgrade(self._alembic_config(connection), revision)

    def downgrade(self, revision: str) -> None:
        from alembic import command

        with self._migration_lock() as connection:
            command.downgrade(self._alembic_config(connection), revision)

    def head_revision(self) -> str | None:
        """The newest migration this code carries (what `upgrade` brings the schema to)."""
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(self._alembic_config()).get_current_head()

    def current_revision(self) -> str | None:
        """The revision in Alembic's version table (None on a database never migrated)."""
        with self.engine.connect() as connection:
            return _revision_on(connection)

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _migration_lock(self) -> Iterator[Connection]:
        """A connection to migrate on, held under a lock that one process at a time may have.

        PostgreSQL: a session-level advisory lock on that very connection, released by hand
        (a pooled connection outlives `close()`, and the lock would live on with it).
        SQLite: an exclusive lock on a file beside the database file.
        """
        if self.is_postgres:
            with self.engine.connect() as connection:
                connection.execute(select(func.pg_advisory_lock(MIGRATION_LOCK_KEY)))
                connection.commit()
                try:
                    yield connection
                finally:
                    _release_advisory_lock(connection)
            return
        with _file_lock(self._sqlite_lock_path()), self.engine.connect() as connection:
            yield connection

    def _sqlite_lock_path(self) -> Path | None:
        database = self.url.database
        if self.dialect != "sqlite" or not database or database == ":memory:":
            return None
        return Path(f"{database}.migrate.lock")

    def _alembic_config(self, connection: Connection | None = None) -> Any:
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        # The connection travels in attributes so env.py migrates on it: it holds the lock,
        # and it comes from this engine (with its SQLite pragmas).
        config.attributes["connection"] = connection
        return config


def _revision_on(connection: Connection) -> str | None:
    version = table("alembic_version", column("version_num"))
    try:
        return connection.execute(select(version.c.version_num)).scalar_one_or_none()
    except (OperationalError, ProgrammingError):
        connection.rollback()  # PostgreSQL's transaction is aborted by the failed query
        return None  # no version table yet
    finally:
        # End the read, so that Alembic begins its own transaction on this connection.
        if connection.in_transaction():
            connection.commit()


def _release_advisory_lock(connection: Connection) -> None:
    try:
        connection.rollback()
        connection.execute(select(func.pg_advisory_unlock(MIGRATION_LOCK_KEY)))
        connection.commit()
    except Exception:
        # A connection that cannot unlock is thrown away: its session ends, and the lock too.
        connection.invalidate()
        raise


@contextmanager
def _file_lock(path: Path | None) -> Iterator[None]:
    """Hold an exclusive lock on `path` (no lock for an in-memory database, or off POSIX)."""
    try:
        import fcntl
    except ImportError:  # Windows: SQLite's own write lock is all there is
        fcntl = None  # type: ignore[assignment]
    if path is None or fcntl is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _create_engine(url: URL, *, echo: bool) -> Engine:
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )
        _configure_sqlite(engine)
        return engine
    engine = create_engine(url, echo=echo, pool_size=5, max_overflow=10)
    _ping_idle_connections(engine)
    return engine


def _ping_idle_connections(engine: Engine) -> None:
    """Check a pooled connection before use when it has lain idle, so a pool survives a
    database restart (a dead connection is replaced, not used), and skip the check for one
    in steady use: pool_pre_ping's round trip on every checkout had been a good share of a
    `/predict`'s few milliseconds. A connection that dies while in use fails that one call,
    and SQLAlchemy then invalidates the pool, as it would with pre_ping."""

    @event.listens_for(engine, "checkin")
    def checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the server restarted, or the network dropped it
            # The pool's signal to throw this connection away and hand out a fresh one.
            raise DisconnectionError() from exc


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock up front: a deferred transaction that reads and then
        # writes can fail with "database is locked" at once instead of waiting its turn.
        connection.exec_driver_sql("BEGIN IMMEDIATE")
