"""What the bot says about jobs: their place in line, the progress message, /status, /jobs,
/cancel, and a job that failed or was cancelled."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.formatting import clip, duration, esc
from trainer.words import number

__all__ = [
    "CANCEL_USAGE",
    "NO_JOBS",
    "PROGRESS_CANCELLED",
    "PROGRESS_CANCELLING",
    "PROGRESS_DONE",
    "PROGRESS_FAILED",
    "PROGRESS_PREDICTING",
    "PROGRESS_QUEUED",
    "PROGRESS_RETRY",
    "PROGRESS_STARTING",
    "PROGRESS_TRAINING",
    "STATUS_USAGE",
    "STATUS_WORDS",
    "already_finished",
    "cancelling_queued",
    "cancelling_running",
    "job_cancelled",
    "job_failed",
    "job_line",
    "job_not_found",
    "jobs_list",
    "position_phrase",
    "progress_done",
    "progress_numbers",
]


def position_phrase(position: int | None) -> str:
    if position is None:
        return "starting now"
    if position == 1:
        return "next in line"
    return f"number {position} in line"


# -- the progress message --------------------------------------------------------------------

PROGRESS_QUEUED = "⏳ Job {job_id} · waiting in the queue"
PROGRESS_RETRY = "🔁 Job {job_id} · trying again shortly"
PROGRESS_STARTING = "⚙️ Job {job_id} · starting…"
PROGRESS_PREDICTING = "⚙️ Job {job_id} · predicting…"
PROGRESS_TRAINING = "🏋️ Job {job_id} · training"
PROGRESS_CANCELLING = "🛑 Job {job_id} · stopping…"
PROGRESS_DONE = "✅ Job {job_id} · done"
PROGRESS_FAILED = "❌ Job {job_id} · failed"
PROGRESS_CANCELLED = "❌ Job {job_id} · cancelled"


def progress_numbers(loss: float | None, val_loss: float | None, eta_seconds: float | None) -> str:
    parts = []
    if loss is not None:
        parts.append(f"loss {number(loss, 4)}")
    if val_loss is not None:
        parts.append(f"val {number(val_loss, 4)}")
    if eta_seconds is not None:
        parts.append("almost done" if eta_seconds < 1 else f"about {duration(eta_seconds)} left")
    return " · ".join(parts)


def progress_done(model_version: Any, passes_run: Any, fit_seconds: Any) -> str:
    parts = []
    if model_version is not None:
        parts.append(f"model v{model_version}")
    if passes_run is not None and fit_seconds is not None:
        parts.append(f"{passes_run} epochs in {number(fit_seconds, 3)} s")
    return ", ".join(parts)


# -- /status, /jobs, /cancel -------------------------------------------------------------------

NO_JOBS = "No jobs yet. Send a CSV with the caption /train to start one."
STATUS_USAGE = "Which job? For example <code>/status 12</code>; /jobs lists them."
CANCEL_USAGE = "Which job? For example <code>/cancel 12</code>; /jobs lists them."

STATUS_WORDS = {
    "queued": "⏳ queued",
    "running": "🏋️ running",
    "succeeded": "✅ done",
    "failed": "❌ failed",
    "cancelled": "❌ cancelled",
}


def job_not_found(job_id: int) -> str:
    return f"This chat has no job {job_id}. /jobs lists its jobs."


def job_line(
    job_id: int, kind: str, status: str, detail: str | None, position: int | None = None
) -> str:
    text = f"<b>{job_id}</b> {esc(kind)} · {STATUS_WORDS.get(status, esc(status))}"
    if position is not None:
        text += f" ({position_phrase(position)})"
    if detail:
        text += f" · {detail}"
    return text


def jobs_list(lines: Sequence[str]) -> str:
    return clip("<b>Recent jobs</b>\n" + "\n".join(lines) + "\n\n/status 12 shows one job.")


def cancelling_queued(job_id: int) -> str:
    return f"OK, cancelling job {job_id}."


def cancelling_running(job_id: int) -> str:
    return f"OK, stopping job {job_id}; it ends after the current step."


def already_finished(job_id: int, status: str) -> str:
    return f"Job {job_id} has already finished ({STATUS_WORDS.get(status, esc(status))})."


# -- a job that ended without its result ------------------------------------------------------


def job_failed(payload: Mapping[str, Any]) -> str:
    error = payload.get("error") or "it stopped unexpectedly."
    return clip(f"❌ Job {payload.get('job_id')} failed: {esc(error)}")


def job_cancelled(payload: Mapping[str, Any]) -> str:
    return f"❌ Job {payload.get('job_id')} is cancelled."
