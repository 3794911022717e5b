"""The durable job queue: the one place that claims, leases, finishes and cancels jobs."""

from __future__ import annotations

import enum
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from storage import notify
from storage.db import Database
from storage.models import (
    Artifact,
    Chat,
    Job,
    JobKind,
    JobStatus,
    Model,
    OutboxMessage,
    utcnow,
)

log = logging.getLogger(__name__)

# Predictions take milliseconds: they should not wait behind minutes of training.
PRIORITY = {JobKind.PREDICT: 0, JobKind.TRAIN: 10}
RETRY_BACKOFF_SECONDS = (2.0, 10.0, 30.0, 60.0)


@dataclass(frozen=True)
class NewArtifact:
    """A file a finished job leaves behind; `key` lets messages of the same job refer to it."""

    key: str
    kind: str
    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class NewMessage:
    """A reply for the bot to deliver; `artifact_key` attaches one of the job's new artifacts."""

    kind: str
    payload: dict[str, Any] = field(default_factory=dict)
    artifact_key: str | None = None


@dataclass(frozen=True)
class NewModel:
    """A trained model to store for the job's chat and make its active one."""

    keras_file: bytes
    scaling: dict[str, Any]
    feature_names: list[str]
    target_name: str
    feature_ranges: list[Any]
    metrics: dict[str, Any]
    backend: str
    device: str


@dataclass(frozen=True)
class Signal:
    """What a running job's worker learns when it reports in."""

    lease_held: bool
    cancel_requested: bool

    @property
    def keep_going(self) -> bool:
        return self.lease_held and not self.cancel_requested


class CancelOutcome(enum.StrEnum):
    NOT_FOUND = "not_found"
    ALREADY_FINISHED = "already_finished"
    CANCELLED = "cancelled"
    REQUESTED = "requested"


@dataclass(frozen=True)
class QueueCounts:
    queued: int
    running: int
    succeeded: int
    failed: int
    cancelled: int


class JobQueue:
    """Enqueue, claim with a lease, report progress, finish, retry and cancel jobs."""

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
    ) -> Job:
        """Add a job; it is durable once this returns. The chat must exist (records.remember)."""
        job = Job(
            kind=kind,
            status=JobStatus.QUEUED,
            chat_id=chat_id,
            user_id=user_id,
            dataset_id=dataset_id,
            model_id=model_id,
            params=params,
            priority=PRIORITY[kind],
            reply_to_message_id=reply_to_message_id,
            max_attempts=self.max_attempts,
            timeout_seconds=self.timeout_seconds,
        )
        with self.db.session() as session:
            session.add(job)
            session.flush()
            self.notifier.publish_in(session, notify.JOBS)
        self.notifier.wake_local(notify.JOBS)
        log.info("job %s queued", job.id, extra={"job_id": job.id, "chat_id": chat_id})
        return job

    # -- consuming ---------------------------------------------------------------------------

    def claim(self, worker: str, kinds: Sequence[JobKind] = tuple(JobKind)) -> Job | None:
        """Atomically take the next runnable job with a fresh lease, or None."""
        jobs = self.claim_batch(worker, kinds, limit=1)
        return jobs[0] if jobs else None

    def claim_batch(
        self, worker: str, kinds: Sequence[JobKind] = tuple(JobKind), *, limit: int
    ) -> list[Job]:
        """Atomically take up to `limit` runnable jobs, in queue order, each under a lease.

        One statement does it: on PostgreSQL the subquery skips rows other workers hold locked;
        SQLite runs one writer at a time, so the same statement cannot hand a job out twice.
        """
        now = utcnow()
        candidates = (
            select(Job.id)
            .where(Job.status == JobStatus.QUEUED, Job.run_after <= now, Job.kind.in_(kinds))
            .order_by(Job.priority, Job.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            # Materialized, it runs once; inlined into the UPDATE, PostgreSQL may rescan it
            # for each row it looks at, and the locks it skipped the first time make later
            # scans disagree, so a claim could come back empty with jobs waiting.
            .cte("candidates")
            .prefix_with("MATERIALIZED", dialect="postgresql")
        )
        claim = (
            update(Job)
            .where(Job.id.in_(select(candidates.c.id)), Job.status == JobStatus.QUEUED)
            .values(
                status=JobStatus.RUNNING,
                lease_owner=worker,
                # One token per claim; with the job's id it proves a result belongs to it.
                lease_token=str(uuid.uuid4()),
                lease_expires_at=now + self.lease,
                started_at=now,
                attempts=Job.attempts + 1,
                revision=Job.revision + 1,
                # A retried job starts its progress afresh.
                progress_epoch=None,
                progress_total=None,
                progress_loss=None,
                progress_val_loss=None,
                progress_eta_seconds=None,
            )
            .returning(Job)
            .execution_options(synchronize_session=False)
        )
        with self.db.session() as session:
            jobs = sorted(session.scalars(claim), key=lambda job: (job.priority, job.id))
            if jobs:
                self.notifier.publish_in(session, notify.OUTBOX)
        if jobs:
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
        """Sleep until a job may be waiting (a wake-up) or `timeout` passes."""
        return self.notifier.wait(notify.JOBS, timeout)

    def heartbeat(self, job: Job) -> Signal:
        """Extend the lease of a running job and say whether to go on."""
        return self._report(job, {})

    def record_progress(
        self,
        job: Job,
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
            "progress_loss": _finite(loss),
            "progress_val_loss": _finite(val_loss),
            "progress_eta_seconds": _finite(eta_seconds),
            "revision": Job.revision + 1,
        }
        signal = self._report(job, values)
        if signal.lease_held:
            self.notifier.wake_local(notify.OUTBOX)
        return signal

    def _report(self, job: Job, values: dict[str, Any]) -> Signal:
        statement = (
            update(Job)
            .where(*self._held(job))
            .values(lease_expires_at=utcnow() + self.lease, **values)
            .returning(Job.cancel_requested)
        )
        with self.db.session() as session:
            cancel = session.execute(statement).scalar_one_or_none()
            if cancel is not None and values:
                self.notifier.publish_in(session, notify.OUTBOX)
        if cancel is None:
            return Signal(lease_held=False, cancel_requested=False)
        return Signal(lease_held=True, cancel_requested=bool(cancel))

    def complete(
        self,
        job: Job,
        *,
        result: dict[str, Any],
        messages: Sequence[NewMessage] = (),
        artifacts: Sequence[NewArtifact] = (),
        model: NewModel | None = None,
    ) -> bool:
        """Finish a job with all it produced, in one transaction; False if the lease was lost.

        Checking the lease in the same statement that finishes the job is what makes a result
        land exactly once even when a stalled worker and its replacement both get this far.
        """
        now = utcnow()
        with self.db.session() as session:
            finished = session.execute(
                update(Job)
                .where(*self._held(job))
                .values(
                    status=JobStatus.SUCCEEDED,
                    finished_at=now,
                    error=None,
                    revision=Job.revision + 1,
                    **_NO_LEASE,
                )
                .returning(Job.id)
            ).scalar_one_or_none()
            if finished is None:
                log.warning("job %s: lease lost, result dropped", job.id, extra={"job_id": job.id})
                return False
            extra: dict[str, Any] = {}
            if model is not None:
                stored = _store_model(session, job, model)
                extra = {"model_id": stored.id, "model_version": stored.version}
            stored_artifacts = {a.key: _store_artifact(session, job, a) for a in artifacts}
            session.execute(
                update(Job)
                .where(Job.id == job.id)
                .values(result={**result, **extra}, model_id=extra.get("model_id", job.model_id))
            )
            for message in messages:
                artifact = stored_artifacts.get(message.artifact_key or "")
                session.add(
                    OutboxMessage(
                        chat_id=job.chat_id,
                        job_id=job.id,
                        kind=message.kind,
                        payload={"job_id": job.id, **message.payload, **extra},
                        artifact_id=artifact.id if artifact is not None else None,
                        reply_to_message_id=job.reply_to_message_id,
                    )
                )
            self.notifier.publish_in(session, notify.OUTBOX)
        self.notifier.wake_local(notify.OUTBOX)
        log.info("job %s succeeded", job.id, extra={"job_id": job.id})
        return True

    def fail(self, job: Job, error: str, *, retry: bool = True) -> JobStatus | None:
        """Record a failure: queue the job again while attempts remain, else fail it for good.

        `error` is the one sentence the chat will see; tracebacks belong in the log.
        Returns the new status, or None if the lease was lost.
        """
        now = utcnow()
        with self.db.session() as session:
            current = session.execute(
                select(Job.attempts, Job.max_attempts).where(*self._held(job))
            ).one_or_none()
            if current is None:
                return None
            attempts, max_attempts = current
            if retry and attempts < max_attempts:
                delay = RETRY_BACKOFF_SECONDS[min(attempts, len(RETRY_BACKOFF_SECONDS)) - 1]
                session.execute(
                    update(Job)
                    .where(*self._held(job))
                    .values(
                        status=JobStatus.QUEUED,
                        run_after=now + timedelta(seconds=delay),
                        error=error,
                        revision=Job.revision + 1,
                        **_NO_LEASE,
                    )
                )
                status = JobStatus.QUEUED
            else:
                _finish_unsuccessfully(session, job.id, JobStatus.FAILED, error, now)
                status = JobStatus.FAILED
            self.notifier.publish_in(session, notify.OUTBOX)
            if status is JobStatus.QUEUED:
                self.notifier.publish_in(session, notify.JOBS)
        self.notifier.wake_local(notify.OUTBOX)
        log.info("job %s failed (%s): %s", job.id, status, error, extra={"job_id": job.id})
        return status

    def mark_cancelled(self, job: Job) -> bool:
        """The worker stopped a running job because its chat asked; False if the lease was lost."""
        with self.db.session() as session:
            held = session.execute(select(Job.id).where(*self._held(job))).scalar_one_or_none()
            if held is None:
                return False
            _finish_unsuccessfully(session, job.id, JobStatus.CANCELLED, None, utcnow())
            self.notifier.publish_in(session, notify.OUTBOX)
        self.notifier.wake_local(notify.OUTBOX)
        return True

    def release(self, job: Job) -> bool:
        """Hand a running job back untouched (the worker is shutting down): it does not count
        as an attempt, and another worker may take it at once."""
        with self.db.session() as session:
            released = session.execute(
                update(Job)
                .where(*self._held(job))
                .values(
                    status=JobStatus.QUEUED,
                    attempts=Job.attempts - 1,
                    run_after=utcnow(),
                    revision=Job.revision + 1,
                    **_NO_LEASE,
                )
                .returning(Job.id)
            ).scalar_one_or_none()
            self.notifier.publish_in(session, notify.JOBS)
        self.notifier.wake_local(notify.JOBS)
        return released is not None

    def reclaim_expired(self) -> list[int]:
        """Requeue running jobs whose worker stopped renewing the lease (it died or hung).

        A job that has already used all its attempts is failed instead: something in it keeps
        killing workers, and running it again would only kill another.
        """
        now = utcnow()
        reclaimed: list[int] = []
        with self.db.session() as session:
            expired = session.execute(
                select(Job.id, Job.attempts, Job.max_attempts)
                .where(Job.status == JobStatus.RUNNING, Job.lease_expires_at < now)
                .with_for_update(skip_locked=True)
            ).all()
            for job_id, attempts, max_attempts in expired:
                if attempts >= max_attempts:
                    _finish_unsuccessfully(
                        session,
                        job_id,
                        JobStatus.FAILED,
                        f"This job stopped its worker {attempts} times, so I gave up on it.",
                        now,
                    )
                else:
                    session.execute(
                        update(Job)
                        .where(Job.id == job_id)
                        .values(
                            status=JobStatus.QUEUED,
                            run_after=now,
                            revision=Job.revision + 1,
                            **_NO_LEASE,
                        )
                    )
                reclaimed.append(job_id)
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
            job = session.scalars(
                select(Job).where(Job.id == job_id, Job.chat_id == chat_id).with_for_update()
            ).one_or_none()
            if job is None:
                return CancelOutcome.NOT_FOUND
            if JobStatus(job.status).finished:
                return CancelOutcome.ALREADY_FINISHED
            if job.status == JobStatus.QUEUED:
                _finish_unsuccessfully(session, job.id, JobStatus.CANCELLED, None, utcnow())
                outcome = CancelOutcome.CANCELLED
            else:
                job.cancel_requested = True
                outcome = CancelOutcome.REQUESTED
            self.notifier.publish_in(session, notify.OUTBOX)
        self.notifier.wake_local(notify.OUTBOX)
        return outcome

    def position(self, job: Job) -> int | None:
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

    def recent_failures(self, limit: int = 5) -> list[Job]:
        with self.db.session() as session:
            return list(
                session.scalars(
                    select(Job)
                    .where(Job.status == JobStatus.FAILED)
                    .order_by(Job.finished_at.desc(), Job.id.desc())
                    .limit(limit)
                )
            )

    @staticmethod
    def _held(job: Job) -> tuple[Any, ...]:
        """The condition that `job` is still running under the lease this worker was given."""
        return (
            Job.id == job.id,
            Job.status == JobStatus.RUNNING,
            Job.lease_token == job.lease_token,
        )


_NO_LEASE: dict[str, Any] = {"lease_owner": None, "lease_token": None, "lease_expires_at": None}


def _finite(value: float | None) -> float | None:
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return None
    return float(value)


def _finish_unsuccessfully(
    session: Session, job_id: int, status: JobStatus, error: str | None, now: datetime
) -> None:
    job = session.get_one(Job, job_id)
    session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(status=status, finished_at=now, error=error, revision=Job.revision + 1, **_NO_LEASE)
    )
    kind = "job_failed" if status is JobStatus.FAILED else "job_cancelled"
    session.add(
        OutboxMessage(
            chat_id=job.chat_id,
            job_id=job_id,
            kind=kind,
            payload={"job_id": job_id, "job_kind": str(job.kind), "error": error},
            reply_to_message_id=job.reply_to_message_id,
        )
    )


def _store_model(session: Session, job: Job, model: NewModel) -> Model:
    # Locking the chat row serialises two of its jobs finishing at once on PostgreSQL, which
    # would otherwise both pick the same next version number.
    session.execute(select(Chat.id).where(Chat.id == job.chat_id).with_for_update())
    version = (
        session.scalar(select(func.max(Model.version)).where(Model.chat_id == job.chat_id)) or 0
    ) + 1
    session.execute(
        update(Model).where(Model.chat_id == job.chat_id, Model.is_active).values(is_active=False)
    )
    stored = Model(
        chat_id=job.chat_id,
        job_id=job.id,
        version=version,
        is_active=True,
        keras_file=model.keras_file,
        scaling=model.scaling,
        feature_names=model.feature_names,
        target_name=model.target_name,
        feature_ranges=model.feature_ranges,
        metrics=model.metrics,
        backend=model.backend,
        device=model.device,
    )
    session.add(stored)
    session.flush()
    return stored


def _store_artifact(session: Session, job: Job, artifact: NewArtifact) -> Artifact:
    stored = Artifact(
        chat_id=job.chat_id,
        job_id=job.id,
        kind=artifact.kind,
        filename=artifact.filename,
        content_type=artifact.content_type,
        content=artifact.content,
        size_bytes=len(artifact.content),
    )
    session.add(stored)
    session.flush()
    return stored
