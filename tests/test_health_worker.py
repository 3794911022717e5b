"""`trainbot health worker`: 0 only while a worker's heartbeat in the database is fresh."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import update

from storage.clock import db_now
from storage.models import Worker
from storage.store import Store
from storage.workers import STALE_SECONDS
from trainbot import cli

Check = Callable[..., int]


@pytest.fixture
def health(
    store: Store, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Check:
    monkeypatch.chdir(tmp_path)  # no .env from the working directory
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("TRAINBOT_WORKER_NAME", raising=False)
    return lambda *args: cli.main(["health", "worker", *args])


def register(store: Store, name: str, hostname: str = socket.gethostname()) -> None:
    store.workers.register(name, hostname=hostname, pid=1, backend="jax", device="cpu")


def test_no_worker_at_all_is_unhealthy(store: Store, health: Check) -> None:
    assert health() == 1


def test_a_worker_on_this_host_with_a_fresh_beat_is_healthy(store: Store, health: Check) -> None:
    register(store, "elsewhere", hostname="another-host")
    assert health() == 1  # only a worker of another host beats
    register(store, "here")
    assert health() == 0
    assert health("--name", "here") == 0
    assert health("--name", "elsewhere") == 0
    assert health("--name", "nobody") == 1


def test_a_stale_or_stopped_worker_is_unhealthy(store: Store, health: Check) -> None:
    register(store, "here")
    with store.db.session() as session:
        session.execute(
            update(Worker)
            .where(Worker.name == "here")
            .values(heartbeat_at=db_now(-2 * STALE_SECONDS))
        )
    assert health() == 1
    store.workers.beat("here", None)
    assert health() == 0
    store.workers.stopped("here")
    assert health() == 1


def test_a_database_without_the_registry_is_unhealthy(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    assert cli.main(["health", "worker"]) == 1
