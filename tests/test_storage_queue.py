"""The durable job queue on real SQLite files and a real PostgreSQL database."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, tzinfo

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.orm import configure_mappers

from storage import models
from storage.clock import db_now
from storage.models import Job, JobKind, JobStatus
from storage.records import ChatRef, UserRef
from storage.results import NewArtifact, NewMessage, NewModel
from storage.store import Store
from storage.views import CancelOutcome

CHAT, OTHER_CHAT = 1001, 2002


def queue_train(store: Store, chat_id: int = CHAT, **params: object):
    store.records.remember(ChatRef(chat_id), UserRef(7))
    return store.queue.enqueue(JobKind.TRAIN, chat_id=chat_id, user_id=7, params=dict(params))


def a_model() -> NewModel:
    return NewModel(
        keras_file=b"keras-bytes",
        scaling={"x_mean": [0.0], "x_std": [1.0], "y_mean": 0.0, "y_std": 1.0},
        feature_names=["x"],
        target_name="y",
        feature_ranges=[[0.0, 999.0]],
        metrics={"mse": 0.001},
        backend="tensorflow",
        device="cpu",
    )


def test_a_queued_job_is_claimed_completed_and_leaves_its_results(store: Store) -> None:
    job = queue_train(store, epochs=5)
    assert store.queue.position(job) == 1

    claimed = store.queue.claim("w1")
    assert claimed is not None and claimed.id == job.id
    assert claimed.status == JobStatus.RUNNING and claimed.attempts == 1
    assert claimed.params == {"epochs": 5}
    assert store.queue.claim("w2") is None
    assert store.queue.position(job) is None

    done = store.queue.complete(
        claimed,
        result={"mse": 0.001},
        artifacts=[NewArtifact("plot", "plot", "plot.png", "image/png", b"\x89PNG...")],
        messages=[NewMessage("train_summary", {"text": "ok"}), NewMessage("plot", {}, "plot")],
        model=a_model(),
    )
    assert done
    finished = store.records.get_job(CHAT, job.id)
    assert finished is not None and finished.status == JobStatus.SUCCEEDED
    assert finished.result == {"mse": 0.001, "model_id": finished.model_id, "model_version": 1}
    active = store.records.active_model(CHAT)
    assert active is not None and active.version == 1

    pending = store.outbox.pending()
    assert [m.kind for m in pending] == ["train_summary", "plot"]
    assert pending[0].payload["model_version"] == 1
    photo = store.outbox.artifact(pending[1].artifact_id)
    assert photo is not None and photo.content == b"\x89PNG..."


def test_predictions_jump_ahead_of_training_and_order_is_kept(store: Store) -> None:
    first = queue_train(store)
    second = queue_train(store)
    predict = store.queue.enqueue(JobKind.PREDICT, chat_id=CHAT, user_id=7, params={"values": [1]})
    assert store.queue.position(predict) == 1
    assert store.queue.position(second) == 3
    assert [store.queue.claim("w").id for _ in range(3)] == [predict.id, first.id, second.id]


def test_claim_can_be_limited_to_some_kinds(store: Store) -> None:
    queue_train(store)
    assert store.queue.claim("w", kinds=[JobKind.PREDICT]) is None
    assert store.queue.claim("w", kinds=[JobKind.TRAIN]) is not None


def queue_predict(store: Store, chat_id: int = CHAT):
    store.records.remember(ChatRef(chat_id), UserRef(7))
    return store.queue.enqueue(
        JobKind.PREDICT, chat_id=chat_id, user_id=7, params={"values": [1.0]}
    )


def test_a_batch_claims_the_first_jobs_of_its_kinds_in_queue_order(store: Store) -> None:
    train = queue_train(store)
    predicts = [queue_predict(store, chat_id) for chat_id in (CHAT, OTHER_CHAT, CHAT, CHAT)]
    batch = store.queue.claim_batch("w", [JobKind.PREDICT], limit=3)
    assert [job.id for job in batch] == [p.id for p in predicts[:3]]
    assert all(job.status == JobStatus.RUNNING and job.lease_owner == "w" for job in batch)
    assert all(job.attempts == 1 and job.lease_expires_at is not None for job in batch)
    # What the batch left behind is still queued, in order.
    assert [store.queue.claim("w").id for _ in range(2)] == [predicts[3].id, train.id]
    assert store.queue.claim_batch("w", limit=5) == []


def test_each_job_of_a_batch_is_finished_under_its_own_lease(store: Store) -> None:
    first, second = queue_predict(store), queue_predict(store)
    batch = store.queue.claim_batch("w", [JobKind.PREDICT], limit=2)
    assert store.queue.complete(batch[1], result={"n": 2})
    store.queue.fail(batch[0], "no model", retry=False)
    assert store.records.get_job(CHAT, first.id).status == JobStatus.FAILED
    assert store.records.get_job(CHAT, second.id).status == JobStatus.SUCCEEDED
    # A finished job's lease proves nothing any more, even if its batch-mate's is still held.
    assert not store.queue.complete(batch[1], result={"n": 3})


def test_a_failure_is_retried_until_the_attempt_limit_then_reported(store: Store) -> None:
    store.queue.max_attempts = 2
    job = queue_train(store)
    claimed = store.queue.claim("w")
    assert store.queue.fail(claimed, "Something broke.") == JobStatus.QUEUED
    # The retry waits out its back-off before it can be claimed again.
    assert store.queue.claim("w") is None
    back_off_passes(store, job.id)
    again = store.queue.claim("w")
    assert again is not None and again.attempts == 2
    assert store.queue.fail(again, "Something broke again.") == JobStatus.FAILED

    failed = store.records.get_job(CHAT, job.id)
    assert failed.status == JobStatus.FAILED and failed.error == "Something broke again."
    [message] = store.outbox.pending()
    assert message.kind == "job_failed" and message.payload["error"] == "Something broke again."


def back_off_passes(store: Store, job_id: int) -> None:
    with store.db.session() as session:
        session.execute(update(Job).where(Job.id == job_id).values(run_after=db_now(-1)))


def test_a_permanent_failure_is_not_retried(store: Store) -> None:
    queue_train(store)
    claimed = store.queue.claim("w")
    assert store.queue.fail(claimed, "Your file is empty.", retry=False) == JobStatus.FAILED


def test_an_expired_lease_is_reclaimed_and_the_stale_worker_cannot_finish(store: Store) -> None:
    store.queue.lease = store.queue.lease.__class__(seconds=0.2)
    job = queue_train(store)
    stale = store.queue.claim("dead-worker")
    time.sleep(0.3)
    assert store.queue.reclaim_expired() == [job.id]

    fresh = store.queue.claim("live-worker")
    assert fresh is not None and fresh.id == job.id and fresh.attempts == 2
    assert not store.queue.heartbeat(stale).lease_held
    assert not store.queue.complete(stale, result={}, messages=[NewMessage("x")])
    assert store.queue.fail(stale, "late") is None
    assert store.queue.complete(fresh, result={}, messages=[NewMessage("x")])
    assert len(store.outbox.pending()) == 1


def test_a_job_that_keeps_killing_workers_is_failed_after_its_attempts(store: Store) -> None:
    store.queue.lease = store.queue.lease.__class__(seconds=0.1)
    store.queue.max_attempts = 2
    job = queue_train(store)
    for _ in range(2):
        assert store.queue.claim("doomed") is not None
        time.sleep(0.2)
        store.queue.reclaim_expired()
    failed = store.records.get_job(CHAT, job.id)
    assert failed.status == JobStatus.FAILED
    assert "stopped its worker 2 times" in failed.error
    assert [m.kind for m in store.outbox.pending()] == ["job_failed"]


def test_progress_extends_the_lease_and_bumps_the_revision(store: Store) -> None:
    job = queue_train(store)
    claimed = store.queue.claim("w")
    signal = store.queue.record_progress(
        claimed, epoch=3, total=10, loss=0.5, val_loss=float("nan"), eta_seconds=1.5
    )
    assert signal.lease_held and not signal.cancel_requested
    current = store.records.get_job(CHAT, job.id)
    assert (current.progress_epoch, current.progress_total, current.progress_loss) == (3, 10, 0.5)
    assert current.progress_val_loss is None
    assert current.lease_expires_at > claimed.lease_expires_at
    assert current.revision > claimed.revision


def test_cancel_stops_a_queued_job_at_once_and_flags_a_running_one(store: Store) -> None:
    running = queue_train(store)
    queued = queue_train(store)
    claimed = store.queue.claim("w")

    assert store.queue.cancel(CHAT, queued.id) == CancelOutcome.CANCELLED
    assert store.records.get_job(CHAT, queued.id).status == JobStatus.CANCELLED
    assert store.queue.cancel(CHAT, queued.id) == CancelOutcome.ALREADY_FINISHED

    assert store.queue.cancel(CHAT, running.id) == CancelOutcome.REQUESTED
    assert store.queue.heartbeat(claimed).cancel_requested
    assert store.queue.mark_cancelled(claimed)
    assert store.records.get_job(CHAT, running.id).status == JobStatus.CANCELLED
    assert [m.kind for m in store.outbox.pending()] == ["job_cancelled", "job_cancelled"]


def test_release_hands_the_job_back_without_spending_an_attempt(store: Store) -> None:
    queue_train(store)
    claimed = store.queue.claim("w")
    assert store.queue.release(claimed)
    again = store.queue.claim("w2")
    assert again is not None and again.attempts == 1


# -- edges: races with a reclaim, cancel flags, clocks ----------------------------------------


@contextmanager
def just_before_the_write(store: Store, interfere: Callable[[], None]) -> Iterator[None]:
    """Run `interfere` inside `store`'s next job transition, at the worst moment for it.

    On PostgreSQL that is after whatever the transition reads first and right before it writes
    the job row: the window in which a check-then-write would act on a stale view. SQLite
    holds the one write lock from a transaction's start (BEGIN IMMEDIATE), so there the only
    moment anyone else can act is just before the transaction begins.
    """
    fired: list[bool] = []

    def before(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        words = statement.split()
        if store.db.is_postgres:
            hit = words[:2] == ["UPDATE", "jobs"]
        else:
            hit = words == ["BEGIN", "IMMEDIATE"]
        if hit and not fired:
            fired.append(True)
            interfere()

    event.listen(store.db.engine, "before_cursor_execute", before)
    try:
        yield
    finally:
        event.remove(store.db.engine, "before_cursor_execute", before)
    assert fired, "the transition never wrote the job"


TRANSITIONS: dict[str, Callable[[Store, Job], object]] = {
    "fail": lambda store, job: store.queue.fail(job, "stale failure", retry=False),
    "fail and retry": lambda store, job: store.queue.fail(job, "stale failure"),
    "mark_cancelled": lambda store, job: store.queue.mark_cancelled(job),
    "complete": lambda store, job: store.queue.complete(
        job, result={"stale": True}, messages=[NewMessage("stale")]
    ),
    "release": lambda store, job: store.queue.release(job),
    "heartbeat": lambda store, job: store.queue.heartbeat(job).lease_held,
}


@pytest.mark.parametrize("transition", list(TRANSITIONS))
def test_a_stale_worker_racing_a_reclaim_loses_and_the_new_owner_wins(
    store: Store, database_url: str, transition: str
) -> None:
    store.queue.lease = timedelta(seconds=0.2)
    job = queue_train(store)
    stale = store.queue.claim("stalled-worker")
    time.sleep(0.3)  # its lease runs out
    other_host = Store.open(database_url, upgrade=False)
    fresh: list[Job] = []

    def reclaim_and_claim() -> None:
        assert other_host.queue.reclaim_expired() == [job.id]
        fresh.append(other_host.queue.claim("new-owner"))

    try:
        with just_before_the_write(store, reclaim_and_claim):
            outcome = TRANSITIONS[transition](store, stale)
        assert outcome in (None, False)
        [new] = fresh
        now = store.records.get_job(CHAT, job.id)
        assert (now.status, now.lease_owner, now.lease_token) == (
            JobStatus.RUNNING,
            "new-owner",
            new.lease_token,
        )
        assert now.error is None and now.result is None
        assert store.outbox.pending() == []
        assert other_host.queue.complete(new, result={"fresh": True})
        assert store.records.get_job(CHAT, job.id).result == {"fresh": True}
    finally:
        other_host.close()


def test_a_cancelled_job_whose_worker_died_is_cancelled_on_reclaim_not_run_again(
    store: Store,
) -> None:
    store.queue.lease = timedelta(seconds=0.2)
    job = queue_train(store)
    store.queue.claim("doomed")
    assert store.queue.cancel(CHAT, job.id) == CancelOutcome.REQUESTED
    time.sleep(0.3)
    assert store.queue.reclaim_expired() == [job.id]
    assert store.records.get_job(CHAT, job.id).status == JobStatus.CANCELLED
    assert store.queue.claim("next") is None
    assert [m.kind for m in store.outbox.pending()] == ["job_cancelled"]


@pytest.mark.parametrize(
    "stop",
    [
        lambda store, job: store.queue.fail(job, "it broke"),
        lambda store, job: store.queue.release(job),
    ],
    ids=["fail and retry", "release"],
)
def test_a_job_whose_cancel_was_requested_is_never_queued_again(
    store: Store, stop: Callable[[Store, Job], object]
) -> None:
    job = queue_train(store)
    claimed = store.queue.claim("w")
    assert store.queue.cancel(CHAT, job.id) == CancelOutcome.REQUESTED
    stop(store, claimed)
    assert store.records.get_job(CHAT, job.id).status == JobStatus.CANCELLED
    back_off_passes(store, job.id)
    assert store.queue.claim("w") is None
    assert [m.kind for m in store.outbox.pending()] == ["job_cancelled"]


def test_a_running_prediction_cancelled_before_it_answers_does_not_answer(store: Store) -> None:
    job = queue_predict(store)
    claimed = store.queue.claim("w")
    assert store.queue.cancel(CHAT, job.id) == CancelOutcome.REQUESTED
    assert not store.queue.complete(
        claimed, result={"value": 1.0}, messages=[NewMessage("predictions", {"value": 1.0})]
    )
    finished = store.records.get_job(CHAT, job.id)
    assert finished.status == JobStatus.CANCELLED and finished.result is None
    assert [m.kind for m in store.outbox.pending()] == ["job_cancelled"]


def test_a_cancel_request_bumps_the_revision_so_the_progress_message_says_stopping(
    store: Store,
) -> None:
    job = queue_train(store)
    claimed = store.queue.claim("w")
    store.queue.cancel(CHAT, job.id)
    assert store.records.get_job(CHAT, job.id).revision > claimed.revision


@contextmanager
def host_clock_off_by(seconds: float) -> Iterator[None]:
    """This process's clock, as storage reads it, `seconds` away from the database's."""
    real = models.datetime

    class Skewed(real):  # type: ignore[misc, valid-type]
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
            return real.now(tz) + timedelta(seconds=seconds)

    configure_mappers()  # before the patch: the models' annotations name the real datetime
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(models, "datetime", Skewed)
        yield


HOUR = 3600.0


def test_leases_and_retry_times_come_from_the_database_clock_not_the_hosts(
    store: Store,
) -> None:
    with host_clock_off_by(+HOUR):  # the bot's host runs an hour fast
        job = queue_train(store)
    # A worker on a host with the right time may run it at once.
    claimed = store.queue.claim("w")
    assert claimed is not None and claimed.id == job.id
    store.queue.release(claimed)
    with host_clock_off_by(-HOUR):  # a worker whose host runs an hour slow takes it
        slow = store.queue.claim("slow-host")
        assert slow is not None
    # Its lease is as fresh as anyone's: another host's reclaim leaves it alone.
    assert store.queue.reclaim_expired() == []
    with store.db.session() as session:
        now = session.scalar(select(db_now()))
    left = (slow.lease_expires_at - now).total_seconds()
    assert 0 < left <= store.queue.lease.total_seconds()


def test_one_chat_cannot_see_or_cancel_another_chats_job(store: Store) -> None:
    job = queue_train(store, chat_id=CHAT)
    store.records.remember(ChatRef(OTHER_CHAT))
    assert store.records.get_job(OTHER_CHAT, job.id) is None
    assert store.records.list_jobs(OTHER_CHAT) == []
    assert store.queue.cancel(OTHER_CHAT, job.id) == CancelOutcome.NOT_FOUND
    assert store.records.get_job(CHAT, job.id).status == JobStatus.QUEUED


def test_counts_and_recent_failures(store: Store) -> None:
    queue_train(store)
    queue_train(store)
    store.queue.fail(store.queue.claim("w"), "bad", retry=False)
    counts = store.queue.counts()
    assert (counts.queued, counts.failed, counts.running) == (1, 1, 0)
    assert [j.error for j in store.queue.recent_failures()] == ["bad"]


def test_a_wake_up_reaches_a_waiting_worker_in_the_same_process(store: Store) -> None:
    woke: list[bool] = []
    waiter = threading.Thread(target=lambda: woke.append(store.queue.wait_for_work(10.0)))
    waiter.start()
    time.sleep(0.2)
    started = time.monotonic()
    queue_train(store)
    waiter.join(10)
    assert woke == [True]
    assert time.monotonic() - started < 5


ENQUEUE_LATER_SCRIPT = """
import sys, time
from storage.models import JobKind
from storage.store import Store
store = Store.open(sys.argv[1], upgrade=False)
time.sleep(0.3)
store.queue.enqueue(JobKind.TRAIN, chat_id=int(sys.argv[2]), user_id=None, params={})
store.close()
"""


def test_a_wake_up_reaches_a_worker_waiting_in_another_process(
    store: Store, database_url: str
) -> None:
    store.records.remember(ChatRef(CHAT))
    # Listening from here on (and any wake-up left over from an earlier test is used up).
    store.queue.wait_for_work(0)
    child = subprocess.Popen([sys.executable, "-c", ENQUEUE_LATER_SCRIPT, database_url, str(CHAT)])
    try:
        # Without a wake-up this waits out the whole timeout and says False.
        assert store.queue.wait_for_work(60.0)
    finally:
        assert child.wait(60) == 0
    assert store.queue.counts().queued == 1


JOBS_TO_RACE = 500


def drained_by_four_threads(store: Store, claim: Callable[[str], list[Job]]) -> list[int]:
    """Four threads take jobs with `claim(worker)` and complete them until it comes back empty;
    the ids of every job taken, in one list."""
    claimed: list[list[int]] = [[] for _ in range(4)]

    def drain(slot: int) -> None:
        while batch := claim(f"thread-{slot}"):
            for job in batch:
                claimed[slot].append(job.id)
                assert store.queue.complete(job, result={})

    threads = [threading.Thread(target=drain, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return [job_id for ids in claimed for job_id in ids]


def test_threads_racing_for_500_jobs_claim_each_exactly_once(store: Store) -> None:
    store.records.remember(ChatRef(CHAT))
    for _ in range(JOBS_TO_RACE):
        store.queue.enqueue(JobKind.TRAIN, chat_id=CHAT, user_id=None, params={})

    def claim_one(worker: str) -> list[Job]:
        job = store.queue.claim(worker)
        return [job] if job is not None else []

    every = drained_by_four_threads(store, claim_one)
    assert len(every) == JOBS_TO_RACE and len(set(every)) == JOBS_TO_RACE
    assert store.queue.counts().succeeded == JOBS_TO_RACE


def test_threads_claiming_batches_take_each_job_exactly_once(store: Store) -> None:
    for _ in range(JOBS_TO_RACE // 2):
        queue_predict(store)
    every = drained_by_four_threads(
        store, lambda worker: store.queue.claim_batch(worker, [JobKind.PREDICT], limit=8)
    )
    assert len(every) == JOBS_TO_RACE // 2 and len(set(every)) == JOBS_TO_RACE // 2
    assert store.queue.counts().succeeded == JOBS_TO_RACE // 2


DRAIN_SCRIPT = """
import sys
from storage.store import Store
store = Store.open(sys.argv[1], upgrade=False)
ids = []
while (job := store.queue.claim(sys.argv[2])) is not None:
    ids.append(job.id)
    store.queue.complete(job, result={})
print(" ".join(map(str, ids)))
"""


def test_four_worker_processes_drain_1000_jobs_claiming_each_exactly_once(store: Store) -> None:
    store.records.remember(ChatRef(CHAT))
    for _ in range(2 * JOBS_TO_RACE):
        store.queue.enqueue(JobKind.TRAIN, chat_id=CHAT, user_id=None, params={})
    url = store.db.url.render_as_string(hide_password=False)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", DRAIN_SCRIPT, url, f"process-{i}"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    outputs = [p.communicate(timeout=180)[0] for p in processes]
    assert all(p.returncode == 0 for p in processes)
    every = [int(i) for out in outputs for i in out.split()]
    assert len(every) == 2 * JOBS_TO_RACE and len(set(every)) == 2 * JOBS_TO_RACE
    assert store.queue.counts().succeeded == 2 * JOBS_TO_RACE


@pytest.mark.parametrize("kind", list(JobKind))
def test_job_kinds_round_trip_as_their_values(store: Store, kind: JobKind) -> None:
    store.records.remember(ChatRef(CHAT))
    job = store.queue.enqueue(kind, chat_id=CHAT, user_id=None, params={})
    assert store.records.get_job(CHAT, job.id).kind == kind
