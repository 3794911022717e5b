"""Workers on other hosts, for real: PostgreSQL, the bot and two workers each on a host of
its own (Linux network namespaces joined by a switch, tests.netns), sharing nothing but
DATABASE_URL. Trainings sent to the bot flow through; then one worker host's cable is pulled
in the middle of a job (its process lives on, cut off): the other worker reclaims the job and
finishes it once, the cut-off worker finds on its return that it lost the lease and stores
nothing, and the chat gets each reply once.

The real bot (`python -m trainbot bot`) talks to the fake Bot API, which serves on the bot
host's own 127.0.0.1 (Telegram is the internet, reachable from the bot's host only). The
workers are real worker processes whose fit is a stand-in (tests.stand_in_worker): what is
tested is the network between the hosts, not Keras. PostgreSQL is reached through a
forwarder that listens on the database host's address (the server itself runs where the test
suite finds it).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from storage.models import Job, JobStatus, Model, OutboxMessage
from storage.store import Store
from tests import netns
from tests.conftest import reset_postgres
from tests.fake_telegram import FakeTelegram
from tests.tcp_proxy import TcpProxy
from tests.waiting import until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning"),
]

ROOT = Path(__file__).resolve().parents[1]
HOSTS = ["db", "bot", "w1", "w2"]
WORKERS = ("w1", "w2")
CHATS = (61, 62)
CSV = b"x,y\n" + b"".join(f"{i},{2 * i + 1}\n".encode() for i in range(30))
LEASE = "3"
# A stand-in training of 80 epochs, 0.1 s apart: long enough to cut a worker in the middle.
JOB_ENV = {"STAND_IN_EPOCHS": "80", "STAND_IN_PAUSE": "0.1"}


@dataclass
class Deployment:
    net: netns.Network
    tg: FakeTelegram
    store: Store  # the test's own view of the database, from the machine's namespace
    workers: dict[str, subprocess.Popen[bytes]]
    logs: Path

    def log_of(self, host: str) -> str:
        return (self.logs / f"{host}.log").read_text(errors="replace")

    def describe(self) -> str:
        with self.store.db.session() as session:
            jobs = session.scalars(select(Job).order_by(Job.id)).all()
            return "; ".join(
                f"{j.id} {j.status} attempts={j.attempts} owner={j.lease_owner} "
                f"epoch={j.progress_epoch}"
                for j in jobs
            )


@pytest.fixture
def hosts_url(postgres_server: str) -> str:
    reason = netns.unavailable()
    if reason is not None:
        pytest.skip(f"the multi-host test makes Linux network namespaces, and {reason}")
    reset_postgres(postgres_server)
    return postgres_server


@pytest.fixture
async def deployment(hosts_url: str, tmp_path: Path) -> AsyncIterator[Deployment]:
    server = make_url(hosts_url)
    with netns.network(f"tb{os.getpid() % 100000}", HOSTS) as net:
        proxy = TcpProxy(
            server.host or "127.0.0.1", server.port or 5432, server=net.listen("db", 5432)
        )
        # What every host is told: the database at the database host's address, nothing else.
        url = server.set(host=net.address["db"], port=5432).render_as_string(hide_password=False)
        store = Store.open(hosts_url)  # the schema, made before any host comes up
        tg = FakeTelegram(sock=net.listen("bot", 0, "127.0.0.1"))
        processes: list[subprocess.Popen[bytes]] = []
        try:
            await tg.start()
            for chat in CHATS:
                tg.add_chat(chat)
            env = {
                **os.environ,
                "PYTHONPATH": str(ROOT),
                "DATABASE_URL": url,
                "TELEGRAM_BOT_TOKEN": tg.token,
                "TELEGRAM_API_BASE_URL": tg.base_url,
                "TELEGRAM_API_FILE_URL": tg.base_file_url,
                "TRAINBOT_HEARTBEAT_FILE": str(tmp_path / "bot.heartbeat"),
                "TRAINBOT_LEASE_SECONDS": LEASE,
                "TRAINBOT_POLL_INTERVAL": "0.5",
                "TRAINBOT_PROGRESS_INTERVAL": "0.5",
                "TRAINBOT_TRAIN_BATCH": "1",
                "TRAINBOT_LOG_LEVEL": "INFO",
                **JOB_ENV,
            }

            def start(host: str, *argv: str, **extra: str) -> subprocess.Popen[bytes]:
                log = (tmp_path / f"{host}.log").open("wb")
                process = subprocess.Popen(
                    net.command(host, sys.executable, *argv),
                    env={**env, **extra}, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                )  # fmt: skip
                processes.append(process)
                return process

            start("bot", "-m", "trainbot", "bot")
            workers = {
                w: start(w, "-m", "tests.stand_in_worker", TRAINBOT_WORKER_NAME=w) for w in WORKERS
            }
            deployed = Deployment(net, tg, store, workers, tmp_path)
            await until(lambda: len(store.workers.alive(within_seconds=60)) == 2, 120)
            yield deployed
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)
            await tg.close()
            proxy.close()
            store.close()


async def train(d: Deployment, chat: int) -> None:
    d.tg.send_document(chat, "table.csv", CSV, caption="/train")


def results(d: Deployment, chat: int) -> Counter[str]:
    """What arrived in the chat: plots (photos) and summaries."""
    sent = d.tg.sent(chat)
    return Counter(
        "plot" if m.photo else "summary"
        for m in sent
        if m.photo or "epochs in" in (m.content or "")
    )


def training_on(d: Deployment, worker: str) -> int | None:
    with d.store.db.session() as session:
        return session.scalar(
            select(Job.id).where(
                Job.status == JobStatus.RUNNING, Job.lease_owner == worker,
                Job.progress_epoch > 2,
            )
        )  # fmt: skip


async def test_jobs_flow_between_hosts_and_a_cut_off_worker_loses_its_job_once(
    deployment: Deployment,
) -> None:
    d = deployment
    # -- jobs flow: two chats, two trainings each, through the bot and both workers.
    for chat in CHATS:
        for _ in range(2):
            await train(d, chat)
    await until(
        lambda: all(results(d, c) == Counter(plot=2, summary=2) for c in CHATS), 180, d.describe
    )
    with d.store.db.session() as session:
        assert session.scalar(select(Job.id).where(Job.status != JobStatus.SUCCEEDED)) is None

    # -- a worker host is cut off in the middle of a job.
    chat = CHATS[0]
    await train(d, chat)
    victim_job: dict[str, int] = {}

    def someone_training() -> bool:
        for worker in WORKERS:
            job = training_on(d, worker)
            if job is not None:
                victim_job[worker] = job
                return True
        return False

    await until(someone_training, 120, d.describe)
    [(victim, job_id)] = victim_job.items()
    survivor = next(w for w in WORKERS if w != victim)
    d.net.cut(victim)
    try:
        # The survivor reclaims the job when its lease runs out, and finishes it.
        await until(
            lambda: d.store.records.get_job(chat, job_id).status == JobStatus.SUCCEEDED,
            180,
            d.describe,
        )
        assert d.workers[victim].poll() is None, "the cut-off worker should still be running"
    finally:
        d.net.mend(victim)
    # Back on the network, the cut-off worker's next word to the database tells it so.
    await until(lambda: f"job {job_id}: lease lost" in d.log_of(victim), 180, d.describe)
    await asyncio.sleep(2.0)  # anything it wrongly stored would be there by now

    job = d.store.records.get_job(chat, job_id)
    assert job.status == JobStatus.SUCCEEDED and job.attempts == 2
    with d.store.db.session() as session:
        models = session.scalars(select(Model.id).where(Model.job_id == job_id)).all()
        replies = Counter(
            session.scalars(select(OutboxMessage.kind).where(OutboxMessage.job_id == job_id))
        )
    assert len(models) == 1
    assert replies == Counter(train_plot=1, train_summary=1)
    await until(lambda: results(d, chat) == Counter(plot=3, summary=3), 60, d.describe)
    await asyncio.sleep(1.0)  # a doubled reply would arrive meanwhile
    assert results(d, chat) == Counter(plot=3, summary=3)
    assert results(d, CHATS[1]) == Counter(plot=2, summary=2)
    assert d.workers[victim].poll() is None and d.workers[survivor].poll() is None
    assert "reclaimed jobs with expired leases" in d.log_of(survivor) + d.log_of(victim)

    # -- and the cut-off worker, back, takes work again.
    await train(d, CHATS[1])
    await until(lambda: results(d, CHATS[1]) == Counter(plot=3, summary=3), 120, d.describe)
