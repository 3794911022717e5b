"""The statements that take a job from whoever holds it: a worker's claim under a lease, the
reclaim of jobs whose lease ran out, and a chat's cancel. storage.queue calls them in its
transactions and sends the wake-ups."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import and_, case, literal, null, select
from sqlalchemy.orm import Session

from storage import results
from storage.clock import db_now
from storage.models import Job, JobKind, JobStatus
from storage.transitions import ENDED, NO_LEASE, ending, next_status, transition
from storage.views import CancelOutcome, JobInfo, view_of


def claim_jobs(
    session: Session,
    worker: str,
    kinds: Sequence[JobKind],
    *,
    limit: int,
    lease_seconds: float,
) -> list[JobInfo]:
    """Take up to `limit` runnable jobs, in queue order, each under a fresh lease.

    One statement does it: on PostgreSQL the subquery skips rows other workers hold locked;
    SQLite runs one writer at a time, so the same statement cannot hand a job out twice.
    """
    candidates = (
        select(Job.id)
        .where(Job.status == JobStatus.QUEUED, Job.run_after <= db_now(), Job.kind.in_(kinds))
        .order_by(Job.priority, Job.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        # Materialized, it runs once; inlined into the UPDATE, PostgreSQL may rescan it for
        # each row it looks at, and the locks it skipped the first time make later scans
        # disagree, so a claim could come back empty with jobs waiting.
        .cte("candidates")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    claimed = transition(
        session,
        (Job.id.in_(select(candidates.c.id)), Job.status == JobStatus.QUEUED),
        {
            "status": JobStatus.RUNNING,
            "lease_owner": worker,
            # One token per claim; with the job's id it proves a result belongs to it.
            "lease_token": str(uuid.uuid4()),
            "lease_expires_at": db_now(lease_seconds),
            "started_at": db_now(),
            "attempts": Job.attempts + 1,
            "revision": Job.revision + 1,
            # A retried job starts its progress afresh.
            "progress_epoch": None,
            "progress_total": None,
            "progress_loss": None,
            "progress_val_loss": None,
            "progress_eta_seconds": None,
        },
        Job,
    )
    return sorted(
        (view_of(JobInfo, job) for job in claimed.scalars()),
        key=lambda job: (job.priority, job.id),
    )


def reclaim_expired_jobs(session: Session) -> list[int]:
    """Requeue running jobs whose worker stopped renewing the lease (it died, hung, or was cut
    off from the database); the ids of those changed.

    A job that has already used all its attempts is failed instead: something in it keeps
    killing workers, and running it again would only kill another. A job whose chat asked
    to cancel it is cancelled: a cancelled job must not run again.
    """
    reclaimed: list[int] = []
    requeue = and_(Job.cancel_requested.is_(False), Job.attempts < Job.max_attempts)
    expired = session.execute(
        select(Job.id, Job.lease_token, Job.attempts)
        .where(Job.status == JobStatus.RUNNING, Job.lease_expires_at < db_now())
        .with_for_update(skip_locked=True)
    ).all()
    for job_id, token, attempts in expired:
        gave_up = f"This job stopped its worker {attempts} times, so I gave up on it."
        ended = transition(
            session,
            (
                Job.id == job_id,
                Job.status == JobStatus.RUNNING,
                Job.lease_token == token,
                Job.lease_expires_at < db_now(),
            ),
            {
                "status": next_status(requeue, JobStatus.FAILED),
                "run_after": case((requeue, db_now()), else_=Job.run_after),
                "finished_at": case((requeue, null()), else_=db_now()),
                "error": case(
                    (Job.cancel_requested, null()),
                    (requeue, Job.error),
                    else_=literal(gave_up),
                ),
                "revision": Job.revision + 1,
                **NO_LEASE,
            },
            *ENDED,
        ).one_or_none()
        if ended is not None:
            results.tell_chat(session, ended)
            reclaimed.append(job_id)
    return reclaimed


def cancel_job(session: Session, chat_id: int, job_id: int) -> CancelOutcome:
    """Cancel a chat's job: a queued one at once, a running one through its cancel flag."""
    mine = (Job.id == job_id, Job.chat_id == chat_id)
    # A job can move between queued and running while this looks; each try is one guarded
    # UPDATE, and a job seen in neither state is looked at once more.
    for _ in range(3):
        ended = transition(
            session,
            (*mine, Job.status == JobStatus.QUEUED),
            ending(JobStatus.CANCELLED, None),
            *ENDED,
        ).one_or_none()
        if ended is not None:
            results.tell_chat(session, ended)
            return CancelOutcome.CANCELLED
        flagged = transition(
            session,
            (*mine, Job.status == JobStatus.RUNNING),
            # The progress message shows "stopping…" from the next revision on.
            {"cancel_requested": True, "revision": Job.revision + 1},
            Job.id,
        ).one_or_none()
        if flagged is not None:
            return CancelOutcome.REQUESTED
        status = session.scalar(select(Job.status).where(*mine))
        if status is None:
            return CancelOutcome.NOT_FOUND
        if JobStatus(status).finished:
            return CancelOutcome.ALREADY_FINISHED
    return CancelOutcome.ALREADY_FINISHED
