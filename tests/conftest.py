"""Shared fixtures: real databases (SQLite files and PostgreSQL) and the reference data."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from storage.store import Store

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_CSV = ROOT / "examples" / "fahrenheit.csv"
POSTGRES_URL_VARIABLE = "TRAINBOT_TEST_POSTGRES_URL"


def _unavailable(reason: str) -> None:
    # In CI a PostgreSQL test that would quietly skip is a failure: the scale-out path must run.
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"PostgreSQL tests must run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test session, dropped at the end."""
    server_url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not server_url:
        _unavailable(f"{POSTGRES_URL_VARIABLE} is not set")
    server_url = server_url.replace("postgresql://", "postgresql+psycopg://", 1)
    name = f"trainbot_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        _unavailable(f"cannot reach PostgreSQL at {server_url}: {exc}")
    url = server_url.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def reset_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each kind: a SQLite file, and a clean PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'trainbot.sqlite3'}"
    url = request.getfixturevalue("postgres_server")
    reset_postgres(url)
    return url


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    store = Store.open(database_url, lease_seconds=30.0)
    yield store
    store.close()


@pytest.fixture(scope="session")
def reference_csv() -> bytes:
    if not REFERENCE_CSV.is_file():
        pytest.fail(f"the reference data set is missing: {REFERENCE_CSV}")
    return REFERENCE_CSV.read_bytes()
