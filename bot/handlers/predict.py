"""Predictions: `/predict 200` or `/predict age=50 region=north` with the chat's active model,
and a CSV or .xlsx of inputs → a CSV back."""

from __future__ import annotations

from telegram import Document, Message, Update

from bot import enqueue, offers, quotas, replies, texts, uploads
from bot.context import BotContext
from bot.parsing import parse_command
from bot.uploads import Refusal
from storage.views import ModelInfo
from trainer.errors import PredictError
from trainer.tables.columns import ColumnPlan
from trainer.tables.inputs import example, parse_inputs


async def predict_command(update: Update, context: BotContext) -> None:
    """/predict 200 or /predict 1 2 3.5; as a reply to a CSV, predictions for each row. An
    edited /predict is answered anew (a typo fixed is a new question)."""
    message, chat, user = update.effective_message, update.effective_chat, update.effective_user
    if message is None or chat is None or user is None:
        return
    source = message.reply_to_message
    if source is not None and source.document is not None:
        await predict_on_csv(update, context, source.document, reply_to=message)
        return
    model = await context.db(context.store.records.active_model, chat.id)
    if model is None:
        await replies.reply(message, texts.NO_MODEL)
        return
    plan = model_plan(model)
    features = plan.input_names or ["x"]
    if not context.args:
        await replies.reply(message, texts.predict_usage(features, example(plan)))
        return
    try:
        # Named values (any case) or bare ones in column order; inputs left out are filled by
        # the worker as in training, and its answer says so.
        rows = parse_inputs(context.args, plan, context.settings.limits)
    except PredictError as error:
        shown = example(plan) if len(features) > 1 else "200"
        await replies.reply(message, texts.bad_values(str(error), shown))
        return
    # No acknowledgement: the answer itself comes within moments, through the outbox.
    await context.db(
        enqueue.prediction,
        context.store,
        chat,
        user,
        model,
        rows,
        reply_to_message_id=message.message_id,
    )


async def predict_caption(update: Update, context: BotContext) -> None:
    """A CSV with the caption /predict: a CSV of predictions for its rows."""
    message = update.message
    if message is None or message.document is None:
        return
    if parse_command(message.caption, context.bot.username) is None:
        return
    await predict_on_csv(update, context, message.document, reply_to=message)


async def predict_button(update: Update, context: BotContext) -> None:
    """The "Predict with model vN" button: predictions for the CSV that the offer answered."""
    offer = await offers.take(update, context)
    if offer is not None:
        await predict_on_csv(
            update, context, offer.document, reply_to=offer.source, replacing=offer.message
        )


async def predict_on_csv(
    update: Update,
    context: BotContext,
    document: Document,
    *,
    reply_to: Message,
    replacing: Message | None = None,
) -> None:
    """Check, download and queue a CSV of inputs; answer with the job id (its progress message)."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None or user is None:
        return
    limits = context.settings.limits
    try:
        model = await context.db(context.store.records.active_model, chat.id)
        if model is None:
            raise Refusal(texts.NO_MODEL)
        await quotas.check_storage(context, chat.id, document.file_size)
        content = await uploads.fetch(context, chat.id, document)
        table = await uploads.read_inputs_csv(
            content, model_plan(model), limits, context.parse_pool
        )
    except Refusal as refusal:
        await replies.answer(str(refusal), to=reply_to, replacing=replacing)
        return
    filename = document.file_name or "inputs.csv"
    job, position = await context.db(
        enqueue.csv_prediction,
        context.store,
        chat,
        user,
        model,
        filename=filename,
        content=content,
        n_rows=table.n_rows,
        columns=table.names,
        reply_to_message_id=reply_to.message_id,
    )
    facts = await context.db(context.store.records.model_facts, chat.id)
    text = texts.predict_csv_queued(
        job.id, position, model.version, filename, facts.get(model.version)
    )
    await replies.acknowledge_job(context, chat.id, job.id, text, to=reply_to, replacing=replacing)


def model_plan(model: ModelInfo) -> ColumnPlan:
    """How the model reads raw inputs (stored with it; plain numbers for older models)."""
    return ColumnPlan.of_model(
        model.scaling, list(model.feature_names), model.target_name, model.feature_ranges
    )
