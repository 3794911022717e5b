"""The durable job queue: the one place that claims, leases, finishes and cancels jobs.

It knows job states and leases; what a finished job produced is written by storage.results
in the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    and_,
    case,
    false,
    func,
    insert,
    literal,
    null,
    select,
)

from storage import notify, results
from storage.claims import cancel_job, claim_jobs, reclaim_expired_jobs
from storage.clock import db_now
from storage.db import Database
from storage.models import Job, JobKind, JobStatus
from storage.results import NewArtifact, NewMessage, NewModel
from storage.transitions import (
    ENDED,
    NO_LEASE,
    backoff_seconds,
    ending,
    finite,
    held,
    next_status,
    transition,
)
from storage.views import CancelOutcome, JobInfo, QueueCounts, Signal, view_of

log = logging.getLogger(__name__)

# Predictions take milliseconds: they should not wait behind minutes of training.
PRIORITY = {JobKind.PREDICT: 0, JobKind.TRAIN: 10}


# Built once: an enqueue only binds its values (the statement's construction and cache key
# had cost as much as the INSERT itself).
_ENQUEUE = (
    insert(Job.__table__)
    # Claims compare this with the database's clock, so it comes from the same clock.
    .values(run_after=db_now())
    .returning(*Job.__table__.c)
)


class JobQueue:
    """Enqueue, claim with a lease, report progress, finish, retry and cancel jobs.

    Every change of a job's state is one guarded UPDATE (`transition`): the statement that
    writes the change also checks that the job is still in the state the change starts from,
    for a worker that it still runs under the lease it was given. A check in one statement and
    a write in the next would let a reclaim, a cancel or another worker slip in between.
    Times that hosts compare (leases, retry times) come from the database's clock.
    """

    def __init__(
        self,
        db: Database,
        *,
        lease_seconds: float = 30.0,
        max_attempts: int = 3,
        timeout_seconds: float = 900.0,
    ) -> None:
        self.db = db
        self.notifier = notify.Notifier(db)
        self.lease = timedelta(seconds=lease_seconds)
        self.max_attempts = max_attempts
        self.timeout_seconds = timeout_seconds

    # -- producing ---------------------------------------------------------------------------

    def enqueue(
        self,
        kind: JobKind,
        *,
        chat_id: int,
        user_id: int | None,
        params: dict[str, Any],
        dataset_id: int | None = None,
        model_id: int | None = None,
        reply_to_message_id: int | None = None,
    ) -> JobInfo:
        """Add a job; it is durable once this returns. The chat must exist (records.remember)."""
        values = {
            "kind": kind,
            "status": JobStatus.QUEUED,
            "chat_id": chat_id,
            "user_id": user_id,
            "dataset_id": dataset_id,
            "model_id": model_id,
            "params": params,
            "priority": PRIORITY[kind],
            "reply_to_message_id": reply_to_message_id,
            "max_attempts": self.max_attempts,
            "timeout_seconds": self.timeout_seconds,
        }
        with self.db.session() as session:
            job = view_of(JobInfo, session.execute(_ENQUEUE, values).one())
            self.notifier.publish_in(session, notify.JOBS)
        self.notifier.wake_local(notify.JOBS)
        log.info("job %s queued", job.id, extra={"job_id": job.id, "chat_id": chat_id})
        return job

    # -- consuming ---------------------------------------------------------------------------

    def claim(self, worker: str, kinds: Sequence[JobKind] = tuple(JobKind)) -> JobInfo | None:
        """Atomically take the next runnable job with a fresh lease, or None."""
        jobs = self.claim_batch(worker, kinds, limit=1)
        return jobs[0] if jobs else None

    def claim_batch(
        self, worker: str, kinds: Sequence[JobKind] = tuple(JobKind), *, limit: int
    ) -> list[JobInfo]:
        """Atomically take up to `limit` runnable jobs, in queue order, each under a lease."""
        # Before the claim looks: a job enqueued from here on wakes this thread's next wait.
        self.notifier.look(notify.JOBS)
        with self.db.session() as session:
            jobs = claim_jobs(
                session, worker, kinds, limit=limit, lease_seconds=self._lease_seconds
            )
            # A claim changes what a job's progress message shows. A prediction asked with
            # values has none (its answer is the reply): the bot's delivery is not woken for
            # it, which had cost a round of reading the outbox just as the answer was due.
            shown = any(job.kind is JobKind.TRAIN or job.params.get("csv") for job in jobs)
            if shown:
                self.notifier.publish_in(session, notify.OUTBOX)
        if shown:
            self.notifier.wake_local(notify.OUTBOX)
        for job in jobs:
            log.info(
                "job %s claimed by %s (attempt %s)",
                job.id,
                worker,
                job.attempts,
                extra={"job_id": job.id},
            )
        return jobs

    def wait_for_work(self, timeout: float) -> bool:
        """Sleep until a job may be waiting (a wake-up since this thread's last claim) or
        `timeout` passes."""
        return self.notifier.wait(notify.JOBS, timeout)

    def heartbeat(self, job: JobInfo) -> Signal:
        """Extend the lease of a running job and say whether to go on."""
        return self._report(job, {})

    def record_progress(
        self,
        job: JobInfo,
        *,
        epoch: int,
        total: int,
        loss: float | None,
        val_loss: float | None,
        eta_seconds: float | None,
    ) -> Signal:
        """Store training progress for the chat's progress message (also extends the lease)."""
        values = {
            "progress_epoch": epoch,
            "progress_total": total,
            "progress_loss": finite(loss),
            "progress_val_loss": finite(val_loss),
            "progress_eta_seconds": finite(eta_seconds),
            "revision": Job.revision + 1,
        }
        signal = self._report(job, values)
        if signal.lease_held:
            self.notifier.wake_local(notify.OUTBOX)
        return signal

    def _report(self, job: JobInfo, values: dict[str, Any]) -> Signal:
        with self.db.session() as session:
            cancel = transition(
                session,
                held(job),
                {"lease_expires_at": db_now(self._lease_seconds), **values},
                Job.cancel_requested,
            ).scalar_one_or_none()
            if cancel is not None and values:
                self.notifier.publish_in(session, notify.OUTBOX)
        if cancel is None:
            return Signal(lease_held=False, cancel_requested=False)
        return Signal(lease_held=True, cancel_requested=bool(cancel))

    def complete(
        self,
        job: JobInfo,
        *,
        result: dict[str, Any],
        messages: Sequence[NewMessage] = (),
        artifacts: Sequence[NewArtifact] = (),
        model: NewModel | None = None,
    ) -> bool:
        """Finish a job with all it produced, in one transaction; False if nothing was stored.

        Checking the lease in the same statement that finishes the job is what makes a result
        land exactly once even when a stalled worker and its replacement both get this far.
        A job whose chat asked to cancel it ends cancelled instead, and what it produced is
        dropped: the chat was told it would stop, so an answer now would contradict that.
        """
        with self.db.session() as session:
            finished = transition(
                session,
                (*held(job), Job.cancel_requested.is_(False)),
                ending(JobStatus.SUCCEEDED, None),
                Job.id,
            ).scalar_one_or_none()
            if finished is None:
                cancelled = transition(
                    session,
                    (*held(job), Job.cancel_requested.is_(True)),
                    ending(JobStatus.CANCELLED, None),
                    *ENDED,
                ).one_or_none()
                if cancelled is None:
                    log.warning(
                        "job %s: lease lost, result dropped", job.id, extra={"job_id": job.id}
                    )
                    return False
                results.tell_chat(session, cancelled)
                self.notifier.publish_in(session, notify.OUTBOX)
            else:
                results.store(session, job, result, messages, artifacts, model)
                self.notifier.publish_in(session, notify.OUTBOX)
        self.notifier.wake_local(notify.OUTBOX)
        if finished is None:
            log.info("job %s cancelled as it finished", job.id, extra={"job_id": job.id})
            return False
        log.info("job %s succeeded", job.id, extra={"job_id": job.id})
        return True

    def fail(self, job: JobInfo, error: str, *, retry: bool = True) -> JobStatus | None:
        """Record a failure: queue the job again while attempts remain, else fail it for good.

        A job whose chat asked to cancel it is cancelled instead of queued again.
        `error` is the one sentence the chat will see; tracebacks belong in the log.
        Returns the new status, or None if the lease was lost.
        """
        again = Job.attempts < Job.max_attempts if retry else false()
        requeue = and_(again, Job.cancel_requested.is_(False))
        with self.db.session() as session:
            ended = transition(
                session,
                held(job),
                {
                    "status": next_status(requeue, JobStatus.FAILED),
                    "run_after": case((requeue, db_now(backoff_seconds())), else_=Job.run_after),
                    "finished_at": case((requeue, null()), else_=db_now()),
                    "error": case((Job.cancel_requested, null()), else_=literal(error)),
                    "revision": Job.revision + 1,
                    **NO_LEASE,
                },
                *ENDED,
            ).one_or_none()
            if ended is None:
                return None
            results.tell_chat(session, ended)
            self.notifier.publish_in(session, notify.OUTBOX)
            if ended.status is JobStatus.QUEUED:
                self.notifier.publish_in(session, notify.JOBS)
        self.notifier.wake_local(notify.OUTBOX)
        log.info("job %s failed (%s): %s", job.id, ended.status, error, extra={"job_id": job.id})
        return JobStatus(ended.status)

    def mark_cancelled(self, job: JobInfo) -> bool:
        """The worker stopped a running job because its chat asked; False if the lease was lost."""
        with self.db.session() as session:
            ended = transition(
                session, held(job), ending(JobStatus.CANCELLED, None), *ENDED
            ).one_or_none()
            if ended is None:
                return False
            results.tell_chat(session, ended)
            self.notifier.publish_in(session, notify.OUTBOX)
        self.notifier.wake_local(notify.OUTBOX)
        return True

    def release(self, job: JobInfo) -> bool:
        """Hand a running job back untouched (the worker is shutting down): it does not count
        as an attempt, and another worker may take it at once. A job whose chat asked to cancel
        it is cancelled instead."""
        requeue = Job.cancel_requested.is_(False)
        with self.db.session() as session:
            ended = transition(
                session,
                held(job),
                {
                    "status": next_status(requeue, JobStatus.CANCELLED),
                    "attempts": case((requeue, Job.attempts - 1), else_=Job.attempts),
                    "run_after": case((requeue, db_now()), else_=Job.run_after),
                    "finished_at": case((requeue, null()), else_=db_now()),
                    "revision": Job.revision + 1,
                    **NO_LEASE,
                },
                *ENDED,
            ).one_or_none()
            if ended is not None:
                results.tell_chat(session, ended)
                self.notifier.publish_in(session, notify.OUTBOX)
            self.notifier.publish_in(session, notify.JOBS)
        self.notifier.wake_local(notify.JOBS)
        return ended is not None

    def reclaim_expired(self) -> list[int]:
        """Requeue (or fail, or cancel) running jobs whose lease ran out (storage.claims)."""
        with self.db.session() as session:
            reclaimed = reclaim_expired_jobs(session)
            if reclaimed:
                self.notifier.publish_in(session, notify.JOBS)
                self.notifier.publish_in(session, notify.OUTBOX)
        if reclaimed:
            log.warning("reclaimed jobs with expired leases: %s", reclaimed)
            self.notifier.wake_local(notify.JOBS)
            self.notifier.wake_local(notify.OUTBOX)
        return reclaimed

    # -- on behalf of a chat -----------------------------------------------------------------

    def cancel(self, chat_id: int, job_id: int) -> CancelOutcome:
        """Cancel a chat's job: a queued one at once, a running one through its cancel flag."""
        with self.db.session() as session:
            outcome = cancel_job(session, chat_id, job_id)
            if outcome not in (CancelOutcome.CANCELLED, CancelOutcome.REQUESTED):
                return outcome
            self.notifier.publish_in(session, notify.OUTBOX)
        self.notifier.wake_local(notify.OUTBOX)
        return outcome

    def position(self, job: JobInfo) -> int | None:
        """1 for the next job to run; None once the job is no longer waiting."""
        with self.db.session() as session:
            current = session.get(Job, job.id)
            if current is None or current.status != JobStatus.QUEUED:
                return None
            ahead = session.scalar(
                select(func.count())
                .select_from(Job)
                .where(
                    Job.status == JobStatus.QUEUED,
                    (Job.priority < current.priority)
                    | ((Job.priority == current.priority) & (Job.id < current.id)),
                )
            )
            return int(ahead or 0) + 1

    def counts(self) -> QueueCounts:
        with self.db.session() as session:
            rows = dict(
                session.execute(select(Job.status, func.count()).group_by(Job.status)).all()
            )
        return QueueCounts(**{status.value: int(rows.get(status, 0)) for status in JobStatus})

    def recent_failures(self, limit: int = 5) -> list[JobInfo]:
        with self.db.session() as session:
            return [
                view_of(JobInfo, job)
                for job in session.scalars(
                    select(Job)
                    .where(Job.status == JobStatus.FAILED)
                    .order_by(Job.finished_at.desc(), Job.id.desc())
                    .limit(limit)
                )
            ]

    @property
    def _lease_seconds(self) -> float:
        return self.lease.total_seconds()
