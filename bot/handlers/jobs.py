"""A chat's jobs: /status [job], /jobs and /cancel <job>.

Every lookup goes through the chat id, so another chat's job reads exactly like a missing one.
"""

from __future__ import annotations

from telegram import Update

from bot import progress, replies, texts
from bot.context import BotContext
from bot.formatting import esc
from bot.handlers.arguments import Asked, one_argument
from bot.parsing import parse_job_id
from storage.models import JobKind, JobStatus
from storage.store import Store
from storage.views import CancelOutcome, JobInfo

JOBS_SHOWN = 10


@one_argument(parse_job_id, texts.STATUS_USAGE, optional=True)
async def status(asked: Asked[int | None], context: BotContext) -> None:
    """/status [job]: how one job is doing; the chat's latest job without a number."""
    job_id = asked.value
    found = await context.db(_job_and_position, context.store, asked.chat_id, job_id)
    if found is None:
        text = texts.job_not_found(job_id) if job_id is not None else texts.NO_JOBS
        await replies.reply(asked.message, text)
        return
    job, position = found
    lines = [progress.render(job)]
    if position is not None:
        lines[0] += f", {texts.position_phrase(position)}"
    if JobStatus(job.status) is JobStatus.FAILED and job.error:
        lines.append(esc(job.error))
    await replies.reply(asked.message, "\n".join(lines))


async def jobs(update: Update, context: BotContext) -> None:
    """/jobs: the chat's recent jobs with their state."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    listed = await context.db(_jobs_and_positions, context.store, chat.id)
    if not listed:
        await replies.reply(message, texts.NO_JOBS)
        return
    lines = [
        texts.job_line(job.id, str(job.kind), str(job.status), _detail(job), position)
        for job, position in listed
    ]
    await replies.reply(message, texts.jobs_list(lines))


@one_argument(parse_job_id, texts.CANCEL_USAGE)
async def cancel(asked: Asked[int], context: BotContext) -> None:
    """/cancel <job>: a queued job at once, a running one as soon as its worker notices."""
    chat_id, job_id = asked.chat_id, asked.value
    outcome = await context.db(context.store.queue.cancel, chat_id, job_id)
    if outcome is CancelOutcome.NOT_FOUND:
        text = texts.job_not_found(job_id)
    elif outcome is CancelOutcome.CANCELLED:
        text = texts.cancelling_queued(job_id)
    elif outcome is CancelOutcome.REQUESTED:
        text = texts.cancelling_running(job_id)
    else:
        job = await context.db(context.store.records.get_job, chat_id, job_id)
        text = texts.already_finished(job_id, str(job.status) if job else "finished")
    await replies.reply(asked.message, text)


def _job_and_position(
    store: Store, chat_id: int, job_id: int | None
) -> tuple[JobInfo, int | None] | None:
    if job_id is None:
        latest = store.records.list_jobs(chat_id, limit=1)
        job = latest[0] if latest else None
    else:
        job = store.records.get_job(chat_id, job_id)
    return None if job is None else (job, store.queue.position(job))


def _jobs_and_positions(store: Store, chat_id: int) -> list[tuple[JobInfo, int | None]]:
    return [
        (job, store.queue.position(job) if job.status == JobStatus.QUEUED else None)
        for job in store.records.list_jobs(chat_id, limit=JOBS_SHOWN)
    ]


def _detail(job: JobInfo) -> str | None:
    """A few words on a job for /jobs: its progress, its model, or its predictions."""
    status = JobStatus(job.status)
    result = job.result or {}
    if status is JobStatus.RUNNING and job.progress_total:
        return f"{job.progress_epoch or 0}/{job.progress_total} epochs"
    if status is JobStatus.SUCCEEDED and JobKind(job.kind) is JobKind.TRAIN:
        version = result.get("model_version")
        return f"model v{version}" if version is not None else None
    return None
