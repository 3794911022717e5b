"""The text of a job's progress message: a bar with epoch/total, loss and ETA, then ✅ or ❌."""

from __future__ import annotations

from bot import texts
from storage.models import JobKind, JobStatus
from storage.views import JobInfo

BAR_WIDTH = 12
FILLED, EMPTY = "▰", "▱"


def bar(done: int, total: int, width: int = BAR_WIDTH) -> str:
    """`▰▰▰▱▱▱` for done/total, never full before the end and never empty after the start."""
    if total <= 0:
        return EMPTY * width
    filled = round(width * min(max(done, 0), total) / total)
    if 0 < done < total:
        filled = min(max(filled, 1), width - 1)
    return FILLED * filled + EMPTY * (width - filled)


def render(job: JobInfo) -> str:
    """What the job's progress message should say now."""
    status = JobStatus(job.status)
    if status is JobStatus.SUCCEEDED:
        return _done(job)
    if status is JobStatus.FAILED:
        return texts.PROGRESS_FAILED.format(job_id=job.id)
    if status is JobStatus.CANCELLED:
        return texts.PROGRESS_CANCELLED.format(job_id=job.id)
    if status is JobStatus.QUEUED:
        # A queued job with an error has failed once and waits for its retry.
        template = texts.PROGRESS_RETRY if job.error else texts.PROGRESS_QUEUED
        return template.format(job_id=job.id)
    if job.cancel_requested:
        return texts.PROGRESS_CANCELLING.format(job_id=job.id)
    if JobKind(job.kind) is JobKind.PREDICT:
        return texts.PROGRESS_PREDICTING.format(job_id=job.id)
    if not job.progress_total or job.progress_epoch is None:
        return texts.PROGRESS_STARTING.format(job_id=job.id)
    lines = [
        texts.PROGRESS_TRAINING.format(job_id=job.id),
        f"{bar(job.progress_epoch, job.progress_total)} "
        f"{job.progress_epoch}/{job.progress_total} epochs",
    ]
    numbers = texts.progress_numbers(
        job.progress_loss, job.progress_val_loss, job.progress_eta_seconds
    )
    if numbers:
        lines.append(numbers)
    return "\n".join(lines)


def _done(job: JobInfo) -> str:
    head = texts.PROGRESS_DONE.format(job_id=job.id)
    result = job.result or {}
    detail = texts.progress_done(
        result.get("model_version"), result.get("epochs_run"), result.get("fit_seconds")
    )
    return f"{head}: {detail}" if detail else head
