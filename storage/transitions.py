"""How the queue changes a job's state: one guarded UPDATE per transition, and the pieces of
SQL that the transitions share (the lease guard, what an ending writes and hands back).

The guard lives in the statement that writes, so a job that left the state a transition
starts from (reclaimed, cancelled, finished by another worker) is simply not matched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Result, case, literal, update
from sqlalchemy.orm import Session

from storage.clock import db_now
from storage.models import Job, JobStatus
from storage.views import JobInfo

RETRY_BACKOFF_SECONDS = (2.0, 10.0, 30.0, 60.0)


def transition(
    session: Session,
    guard: Sequence[ColumnElement[bool]],
    values: Mapping[str, Any],
    *returning: Any,
) -> Result[Any]:
    """Change the jobs that are in the state `guard` describes, in one UPDATE ... RETURNING.

    The guard lives in the statement that writes, so a job that left that state a moment ago
    (reclaimed, cancelled, finished by another worker) is simply not matched: the result is
    empty, and the caller knows its view of the job is out of date.
    """
    return session.execute(
        update(Job)
        .where(*guard)
        .values(**values)
        .returning(*returning)
        .execution_options(synchronize_session=False)
    )


def held(job: JobInfo) -> tuple[ColumnElement[bool], ...]:
    """The guard that `job` is still running under the lease this worker was given."""
    return (
        Job.id == job.id,
        Job.status == JobStatus.RUNNING,
        Job.lease_token == job.lease_token,
    )


NO_LEASE: dict[str, Any] = {"lease_owner": None, "lease_token": None, "lease_expires_at": None}
# What a transition that may end a job hands back, to tell its chat (storage.results.tell_chat).
ENDED = (Job.id, Job.status, Job.kind, Job.chat_id, Job.reply_to_message_id, Job.error)


def ending(status: JobStatus, error: str | None) -> dict[str, Any]:
    return {
        "status": status,
        "finished_at": db_now(),
        "error": error,
        "revision": Job.revision + 1,
        **NO_LEASE,
    }


def next_status(requeue: ColumnElement[bool], otherwise: JobStatus) -> ColumnElement[Any]:
    """A running job's next status: cancelled if its chat asked (whatever else holds, so a
    cancelled job never runs again), queued again where `requeue` holds, else `otherwise`."""
    return case(
        (Job.cancel_requested, literal(JobStatus.CANCELLED.value)),
        (requeue, literal(JobStatus.QUEUED.value)),
        else_=literal(otherwise.value),
    )


def backoff_seconds() -> ColumnElement[float]:
    """RETRY_BACKOFF_SECONDS[attempts - 1], and the last of them for every later attempt."""
    *first, last = RETRY_BACKOFF_SECONDS
    return case(
        *((Job.attempts <= n, literal(seconds)) for n, seconds in enumerate(first, start=1)),
        else_=literal(last),
    )


def finite(value: float | None) -> float | None:
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return None
    return float(value)
