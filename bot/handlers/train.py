"""Every way to ask for training: a /train caption, /train as a reply, /train then the file,
a file then a bare /train, and a CSV or .xlsx with no command (answered with a button)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from telegram import Document, Message, Update
from telegram.constants import ChatType

from bot import enqueue, offers, quotas, replies, texts, uploads
from bot.context import BotContext
from bot.parsing import parse_command
from bot.uploads import Refusal
from trainer.limits import Limits
from trainer.params import ParamError, TrainParams, parse_params

log = logging.getLogger(__name__)

# chat_data key: who sent /train without a file, as user id → (options, deadline).
AWAITING_CSV = "awaiting_csv"
# chat_data key: the last table each user sent without a command, as user id → RecentFile.
RECENT_FILES = "recent_files"


@dataclass(frozen=True)
class RecentFile:
    """A table sent without a command, which a bare /train soon after means."""

    message: Message
    document: Document
    at: float  # time.monotonic()


async def train_command(update: Update, context: BotContext) -> None:
    """/train [options]: train on the CSV it replies to, or the table this user sent a few
    minutes ago, or else the next one this user sends."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    options = list(context.args or [])
    source = message.reply_to_message
    if source is not None and source.document is not None:
        await train_on(update, context, source.document, options, reply_to=message, source=source)
        return
    recent = _recent_files(context).pop(user.id, None)
    age = time.monotonic() - recent.at if recent is not None else 0.0
    if recent is not None and age <= context.settings.train_wait_seconds:
        # "Send the file, then /train" is as natural as the other order.
        said = texts.training_recent_file(recent.document.file_name, age)
        await train_on(
            update, context, recent.document, options, reply_to=message, source=recent.message,
            said=said,
        )  # fmt: skip
        return
    try:
        parse_params(options, context.settings.limits)
        # Said now rather than after the user has found and sent the file.
        await quotas.check_trainings(context, user.id)
    except ParamError as error:
        await replies.reply(message, texts.bad_params(str(error)))
        return
    except Refusal as refusal:
        await replies.reply(message, str(refusal))
        return
    wait = context.settings.train_wait_seconds
    _awaiting(context)[user.id] = (options, time.monotonic() + wait)
    group = message.chat.type != ChatType.PRIVATE
    await replies.reply(message, texts.send_csv_now(wait / 60, group=group))


async def train_caption(update: Update, context: BotContext) -> None:
    """A CSV with the caption /train [options]: train on it."""
    message = update.message
    if message is None or message.document is None:
        return
    command = parse_command(message.caption, context.bot.username)
    if command is None:  # "/train@otherbot": not for us
        return
    await train_on(
        update, context, message.document, command.args, reply_to=message, source=message
    )


async def document_without_command(update: Update, context: BotContext) -> None:
    """A file with no command: train it if /train asked for it, else offer buttons."""
    message, user = update.message, update.effective_user
    if message is None or message.document is None or user is None:
        return
    options, deadline = _awaiting(context).pop(user.id, (None, 0.0))
    if options is not None and time.monotonic() <= deadline:
        await train_on(update, context, message.document, options, reply_to=message, source=message)
        return
    private = message.chat.type == ChatType.PRIVATE
    if not uploads.looks_like_table(message.document):
        if private:  # in groups, other people's files are none of the bot's business
            try:
                uploads.check_document(message.document, context.settings.limits)
            except Refusal as refusal:
                await replies.reply(message, str(refusal))
        return
    model = await context.db(context.store.records.active_model, message.chat.id)
    offer = await replies.reply(
        message,
        texts.offer_training(message.document.file_name),
        keyboard=offers.keyboard(model.version if model is not None else None),
    )
    offers.made(context, message.message_id, offer.message_id)
    _recent_files(context)[user.id] = RecentFile(message, message.document, time.monotonic())


async def train_button(update: Update, context: BotContext) -> None:
    """The "Train on this file" button: train on the CSV that the offer answered."""
    offer = await offers.take(update, context)
    if offer is not None:
        await train_on(
            update, context, offer.document, [], reply_to=offer.source, replacing=offer.message,
            source=offer.source,
        )  # fmt: skip


async def train_on(
    update: Update,
    context: BotContext,
    document: Document,
    options: list[str],
    *,
    reply_to: Message,
    replacing: Message | None = None,
    source: Message | None = None,
    said: str | None = None,
) -> None:
    """Check, download, validate, queue, and answer with the job id and queue position.

    The answer becomes the job's progress message, which delivery keeps editing. `source` is
    the message of the file (its offer, if any, is settled); `said` comes before the answer.
    """
    chat, user = update.effective_chat, update.effective_user
    if chat is None or user is None:
        return
    settings = context.settings
    _awaiting(context).pop(user.id, None)  # whatever /train was waiting for, this is it
    recent = _recent_files(context).get(user.id)
    if source is not None and recent is not None and recent.message.message_id == source.message_id:
        del _recent_files(context)[user.id]  # a later bare /train must not train it again
    try:
        params = _params(options, settings.limits)
        await quotas.check_trainings(context, user.id)
        await quotas.check_storage(context, chat.id, document.file_size)
        content = await uploads.fetch(context, chat.id, document)
        dataset = await uploads.read_training_csv(
            content,
            x=params.x,
            y=params.y,
            sheet=params.sheet,
            limits=settings.limits,
            pool=context.parse_pool,
            predict=params.predict,
            task=params.task,
            preset=params.preset,
        )
    except Refusal as refusal:
        await replies.answer(str(refusal), to=reply_to, replacing=replacing)
        return
    columns = [*dataset.input_names, dataset.target_name]
    job, position = await context.db(
        enqueue.training,
        context.store,
        chat,
        user,
        filename=document.file_name or "data.csv",
        content=content,
        n_rows=dataset.n_rows,
        columns=columns,
        params=params.to_dict(),
        reply_to_message_id=reply_to.message_id,
    )
    log.info("job %s queued from a %s-row table", job.id, dataset.n_rows, extra={"job_id": job.id})
    if source is not None:
        offers.settle(context, source.message_id, job.id)
    text = texts.train_queued(
        job.id, position, dataset.n_rows, dataset.input_names, dataset.target_name,
        classes=dataset.classes,
    )  # fmt: skip
    text = f"{said}\n{text}" if said else text
    await replies.acknowledge_job(context, chat.id, job.id, text, to=reply_to, replacing=replacing)


def _params(options: list[str], limits: Limits) -> TrainParams:
    try:
        return parse_params(options, limits)
    except ParamError as error:
        raise Refusal(texts.bad_params(str(error))) from error


def _recent_files(context: BotContext) -> dict[int, RecentFile]:
    assert context.chat_data is not None  # every update handled here has a chat
    return context.chat_data.setdefault(RECENT_FILES, {})


def _awaiting(context: BotContext) -> dict[int, tuple[list[str], float]]:
    assert context.chat_data is not None  # every update handled here has a chat
    return context.chat_data.setdefault(AWAITING_CSV, {})
