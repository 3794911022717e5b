"""The database's clock, for every time that processes on different hosts compare.

A lease written by one host and judged expired by another is only as good as the two hosts'
clocks agree; taking leases, retry times and heartbeats from the one database makes that
question go away. `db_now()` renders as the database's current UTC time, as the same naive UTC
value `UTCDateTime` columns hold:

- PostgreSQL: `now() AT TIME ZONE 'utc'` (a plain timestamp in UTC, whatever the session's
  TimeZone; a bare `now()` is a timestamptz that the column would convert to local time).
- SQLite: `strftime('%Y-%m-%d %H:%M:%f', 'now')` plus three zeros, which is exactly the text
  SQLAlchemy writes for a datetime ('2026-11-27 10:00:00.123000'), so stored times and the
  clock compare correctly as text. SQLite's 'now' is UTC, and fixed within one statement.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, func, literal, literal_column
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from storage.models import UTCDateTime


class db_now(FunctionElement[datetime]):  # lower case: it reads like func.now()
    """The database's current UTC time, `seconds` later (a number or a SQL expression)."""

    type = UTCDateTime()
    inherit_cache = True
    name = "db_now"

    def __init__(self, seconds: float | ColumnElement[Any] = 0.0) -> None:
        if not isinstance(seconds, ColumnElement):
            seconds = literal(float(seconds), Float())
        super().__init__(seconds)


def _offset(element: db_now) -> ColumnElement[Any]:
    (seconds,) = element.clauses
    return seconds


@compiles(db_now, "postgresql")
def _now_postgresql(element: db_now, compiler: SQLCompiler, **kw: Any) -> str:
    seconds = compiler.process(_offset(element), **kw)
    return f"((now() AT TIME ZONE 'utc') + ({seconds}) * INTERVAL '1 second')"


@compiles(db_now, "sqlite")
def _now_sqlite(element: db_now, compiler: SQLCompiler, **kw: Any) -> str:
    # printf() keeps the modifier in plain decimals: SQLite reads '1e-07 seconds' as nothing.
    moment = func.strftime(
        literal_column("'%Y-%m-%d %H:%M:%f'"),
        literal_column("'now'"),
        func.printf(literal_column("'%.6f seconds'"), _offset(element)),
    )
    return f"({compiler.process(moment, **kw)} || '000')"
