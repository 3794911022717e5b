"""Faults with real processes: killed workers, SIGTERM, and a database that goes away."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy.engine import make_url

from storage.models import JobKind, JobStatus
from storage.records import ChatRef
from storage.store import Store
from tests.conftest import reset_postgres
from tests.fatal_job_worker import FATAL_SEED
from tests.stand_ins import stand_in_training
from tests.tcp_proxy import TcpProxy
from tests.waiting import wait_until
from trainbot.settings import Settings
from trainer.params import TrainParams
from trainer.worker.loop import Worker

CHAT = 77
# JAX starts several times faster than TensorFlow, which matters for 20 worker restarts.
WORKER_ENV = {
    "KERAS_BACKEND": "jax",
    "TRAINBOT_LEASE_SECONDS": "1",
    "TRAINBOT_PROGRESS_INTERVAL": "0.1",
    "TRAINBOT_POLL_INTERVAL": "0.1",
    "TRAINBOT_LOG_LEVEL": "WARNING",
}
# Workers that train for real and must not lose their jobs hold them on longer leases.
SURVIVOR_LEASE = "10"


def jobs_table(store: Store) -> Callable[[], str]:
    def describe() -> str:
        return "jobs: " + "; ".join(
            f"{j.id} {j.status} attempts={j.attempts} owner={j.lease_owner} "
            f"epoch={j.progress_epoch} error={j.error}"
            for j in store.records.list_jobs(CHAT, limit=100)
        )

    return describe


def enqueue_trainings(store: Store, content: bytes, count: int, **params: object) -> list[int]:
    store.records.remember(ChatRef(CHAT))
    dataset = store.records.save_dataset(
        CHAT, user_id=None, filename="f.csv", content=content, n_rows=0, columns=[]
    )
    return [
        store.queue.enqueue(
            JobKind.TRAIN,
            chat_id=CHAT,
            user_id=None,
            dataset_id=dataset.id,
            params=TrainParams(**params).to_dict(),
        ).id
        for _ in range(count)
    ]


def start_worker(
    url: str, *, endless: bool = False, module: str | None = None, **env: str
) -> subprocess.Popen[bytes]:
    """`trainbot worker`, or with `endless` a worker whose training never ends (a victim), or
    the worker `module` (a stand-in of tests/)."""
    module = module or ("tests.endless_worker" if endless else "trainbot")
    if endless:  # one job each: a victim holds the job it dies with
        env = {"TRAINBOT_TRAIN_BATCH": "1", **env}
    return subprocess.Popen(
        [sys.executable, "-m", module, *(["worker"] if module == "trainbot" else [])],
        env={**os.environ, **WORKER_ENV, "DATABASE_URL": url, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def training(store: Store, worker: str) -> bool:
    """Whether `worker` is in the middle of training a job (it has reported progress)."""
    return any(
        j.status == JobStatus.RUNNING and j.lease_owner == worker and (j.progress_epoch or 0) > 0
        for j in store.records.list_jobs(CHAT, limit=100)
    )


def outcome(store: Store, job_ids: list[int]) -> tuple[Counter[str], Counter[str]]:
    """Job statuses, and how many replies of each kind the chat would receive."""
    statuses = Counter(str(store.records.get_job(CHAT, j).status) for j in job_ids)
    replies = Counter(m.kind for m in store.outbox.pending(limit=1000, per_chat=1000))
    return statuses, replies


def each_succeeds_once(store: Store, url: str, jobs: list[int]) -> None:
    """A real worker finishes `jobs`: each succeeds, and its chat gets one plot and one summary.

    Its own leases are long: the victims' short ones are what must run out, and a 1 s lease on
    a worker training for real lapsed under a busy CPU (its job then ran twice)."""
    survivor = start_worker(url, TRAINBOT_LEASE_SECONDS=SURVIVOR_LEASE)
    try:
        wait_until(lambda: all(store.records.get_job(CHAT, j).finished for j in jobs), 300)
    finally:
        survivor.terminate()
        survivor.wait(60)
    statuses, replies = outcome(store, jobs)
    assert statuses == Counter({"succeeded": len(jobs)})
    assert replies == Counter({"train_plot": len(jobs), "train_summary": len(jobs)})


@pytest.fixture
def url(store: Store) -> str:
    return store.db.url.render_as_string(hide_password=False)


@pytest.mark.slow
@pytest.mark.postgres
def test_twenty_killed_workers_lose_no_job_and_finish_each_once(
    request: pytest.FixtureRequest, reference_csv: bytes
) -> None:
    """SIGKILL 20 workers mid-training (5 rounds of 4 at once), then let one worker finish.

    The victims are real worker processes with a stand-in fit (tests/endless_worker.py): what
    is under test is the queue's bookkeeping, and twenty Keras start-ups cost minutes. The
    survivor is a real `trainbot worker`, and trains every job for real."""
    server_url = request.getfixturevalue("postgres_server")
    reset_postgres(server_url)
    store = Store.open(server_url)
    store.queue.max_attempts = 50
    jobs = enqueue_trainings(store, reference_csv, 4, epochs=20)
    for round_ in range(5):
        names = [f"victim-{round_}-{i}" for i in range(4)]
        victims = [
            start_worker(server_url, endless=True, TRAINBOT_WORKER_NAME=name) for name in names
        ]
        try:
            for name in names:
                wait_until(lambda name=name: training(store, name), describe=jobs_table(store))
        finally:
            for victim in victims:
                victim.send_signal(signal.SIGKILL)
                victim.wait()
    each_succeeds_once(store, server_url, jobs)
    assert len(store.records.list_models(CHAT)) == 4
    # Every victim held a job when it died; each job then succeeded once more.
    assert sum(store.records.get_job(CHAT, j).attempts for j in jobs) >= 20 + 4
    store.close()


@pytest.mark.slow
def test_a_worker_killed_mid_batch_loses_none_of_its_batch(
    store: Store, url: str, reference_csv: bytes
) -> None:
    """The victim claims the four jobs as one batch (each under its own lease) and dies; all
    four are reclaimed, and a real worker trains them, once each."""
    jobs = enqueue_trainings(store, reference_csv, 4, epochs=20)
    victim = start_worker(
        url, endless=True, TRAINBOT_WORKER_NAME="victim", TRAINBOT_TRAIN_BATCH="8"
    )

    def holds_the_batch() -> bool:
        held = [store.records.get_job(CHAT, j) for j in jobs]
        return all(j.lease_owner == "victim" for j in held) and training(store, "victim")

    try:
        wait_until(holds_the_batch, describe=jobs_table(store))
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait()
    each_succeeds_once(store, url, jobs)
    assert [store.records.get_job(CHAT, j).attempts for j in jobs] == [2, 2, 2, 2]


@pytest.mark.slow
def test_a_job_that_kills_its_worker_every_time_fails_after_its_attempts(
    store: Store, url: str, reference_csv: bytes
) -> None:
    store.queue.max_attempts = 2
    [job] = enqueue_trainings(store, reference_csv, 1)
    for victim in range(2):
        name = f"victim-{victim}"
        worker = start_worker(url, endless=True, TRAINBOT_WORKER_NAME=name)
        try:
            wait_until(lambda name=name: training(store, name), describe=jobs_table(store))
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait()
    time.sleep(1.2)  # the lease of the last victim runs out
    assert store.queue.reclaim_expired() == [job]
    failed = store.records.get_job(CHAT, job)
    assert failed.status == JobStatus.FAILED and "stopped its worker 2 times" in failed.error
    assert [m.kind for m in store.outbox.pending()] == ["job_failed"]


@pytest.mark.slow
def test_a_job_that_kills_its_worker_is_retried_alone_while_its_batchmates_finish(
    store: Store, url: str, reference_csv: bytes
) -> None:
    """The fatal job comes first in a batch of three and kills its worker (tests/
    fatal_job_worker.py). Retried alone, it kills two more workers and fails; its batchmates,
    claimed again one at a time, finish."""
    [fatal] = enqueue_trainings(store, reference_csv, 1, seed=FATAL_SEED)
    mates = [enqueue_trainings(store, reference_csv, 1, seed=seed)[0] for seed in (1, 2)]
    jobs = [fatal, *mates]
    deaths = 0
    while not all(store.records.get_job(CHAT, j).finished for j in jobs):
        assert deaths <= 6, jobs_table(store)()
        worker = start_worker(url, module="tests.fatal_job_worker", TRAINBOT_TRAIN_BATCH="8")
        try:
            wait_until(
                lambda w=worker: (
                    w.poll() is not None
                    or all(store.records.get_job(CHAT, j).finished for j in jobs)
                ),
                describe=jobs_table(store),
            )
        finally:
            if worker.poll() is None:
                worker.terminate()
            deaths += worker.wait(60) == -signal.SIGKILL
    statuses, replies = outcome(store, jobs)
    failed = store.records.get_job(CHAT, fatal)
    assert failed.status == JobStatus.FAILED and "stopped its worker 3 times" in failed.error
    assert deaths == 3
    assert [store.records.get_job(CHAT, j).attempts for j in mates] == [2, 2]
    assert statuses == Counter({"succeeded": 2, "failed": 1})
    assert replies == Counter({"train_plot": 2, "train_summary": 2, "job_failed": 1})


@pytest.mark.slow
def test_sigterm_hands_the_job_back_and_exits_cleanly(
    store: Store, url: str, reference_csv: bytes
) -> None:
    [job] = enqueue_trainings(store, reference_csv, 1, preset="tutorial", epochs=2000)
    worker = start_worker(url, TRAINBOT_WORKER_NAME="polite", TRAINBOT_LEASE_SECONDS=SURVIVOR_LEASE)
    wait_until(lambda: training(store, "polite"))
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0
    released = store.records.get_job(CHAT, job)
    assert released.status == JobStatus.QUEUED and released.attempts == 0
    assert store.workers.alive(within_seconds=60) == []


@pytest.fixture
def proxied_postgres(request: pytest.FixtureRequest) -> Iterator[tuple[str, TcpProxy]]:
    server_url = request.getfixturevalue("postgres_server")
    reset_postgres(server_url)
    server = make_url(server_url)
    proxy = TcpProxy(server.host or "127.0.0.1", server.port or 5432)
    yield server.set(port=proxy.port).render_as_string(hide_password=False), proxy
    proxy.close()


@pytest.mark.slow
@pytest.mark.postgres
def test_a_postgres_outage_delays_jobs_but_loses_none(
    proxied_postgres: tuple[str, TcpProxy], reference_csv: bytes
) -> None:
    url, proxy = proxied_postgres
    # Leases as short as the worker renews them: a job caught in the outage comes back soon.
    store = Store.open(url, lease_seconds=2.0)
    settings = Settings.from_env(
        {"TRAINBOT_LEASE_SECONDS": "2", "TRAINBOT_POLL_INTERVAL": "0.1"}, env_file=None
    )
    jobs = enqueue_trainings(store, reference_csv, 6)
    stop = threading.Event()
    # The fit is a stand-in: what the outage tests is the bookkeeping around it.
    trainer = Worker(
        store, settings, name="w", train_batch=1, train_task=stand_in_training(20, pause=0.05)
    )
    worker = threading.Thread(target=trainer.run, args=(stop,))
    worker.start()
    try:
        wait_until(lambda: outcome(store, jobs)[0]["succeeded"] >= 1)
        proxy.outage(3.0)
        time.sleep(3.5)
        wait_until(lambda: all(store.records.get_job(CHAT, j).finished for j in jobs), 180)
        assert worker.is_alive()
    finally:
        stop.set()
        worker.join(60)
    statuses, replies = outcome(store, jobs)
    assert statuses == Counter({"succeeded": 6})
    assert replies == Counter({"train_plot": 6, "train_summary": 6})
    store.close()
