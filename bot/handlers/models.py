"""A chat's models, addressed by the version it sees (v1, v2 ...): /models, /use, /delete,
/download.

Every lookup goes through the chat id, so another chat's model reads exactly like a missing one.
"""

from __future__ import annotations

from typing import Any

from telegram import InputFile, Update

from bot import replies, texts
from bot.context import BotContext
from bot.handlers.arguments import Asked, one_argument
from bot.handlers.predict import model_plan
from bot.parsing import parse_model_version
from storage.store import Store
from storage.views import ModelInfo
from trainer.words import number


async def models(update: Update, context: BotContext) -> None:
    """/models: the chat's models, the active one marked."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    listed = await context.db(context.store.records.list_models, chat.id)
    if not listed:
        await replies.reply(message, texts.NO_MODELS)
        return
    facts = await context.db(context.store.records.model_facts, chat.id)
    lines = [
        texts.model_line(
            m.version,
            m.is_active,
            m.target_name,
            # The user's columns (a category is one), not the network's one-hot features.
            model_plan(m).input_names or list(m.feature_names),
            _quality(m.metrics),
            facts.get(m.version),
        )
        for m in listed
    ]
    await replies.reply(message, texts.models_list(lines))


@one_argument(parse_model_version, texts.model_usage("use"))
async def use(asked: Asked[int], context: BotContext) -> None:
    """/use v2: make a model the one /predict uses."""
    version = asked.value
    model = await context.db(context.store.records.activate_model, asked.chat_id, version)
    if model is None:
        text = texts.model_not_found(version)
    else:
        facts = await context.db(context.store.records.model_facts, asked.chat_id)
        text = texts.model_activated(version, facts.get(version))
    await replies.reply(asked.message, text)


@one_argument(parse_model_version, texts.model_usage("delete"))
async def delete(asked: Asked[int], context: BotContext) -> None:
    """/delete v2: delete a model for good."""
    version = asked.value
    was_active = await context.db(_delete, context.store, asked.chat_id, version)
    if was_active is None:
        text = texts.model_not_found(version)
    else:
        text = texts.model_deleted(version, was_active)
    await replies.reply(asked.message, text)


@one_argument(parse_model_version, texts.model_usage("download"), optional=True)
async def download(asked: Asked[int | None], context: BotContext) -> None:
    """/download [v2]: the model as a .keras file (the active one without a version)."""
    message, version = asked.message, asked.value
    model = await context.db(_model_file, context.store, asked.chat_id, version)
    if model is None:
        text = texts.model_not_found(version) if version is not None else texts.NO_MODEL
        await replies.reply(message, text)
        return
    facts = await context.db(context.store.records.model_facts, asked.chat_id)
    caption = texts.model_file_caption(
        model.version,
        model.target_name,
        list(model.feature_names),
        model.scaling or {},
        facts.get(model.version),
    )
    file = InputFile(model.keras_file, filename=f"model-v{model.version}.keras")
    await replies.retrying(lambda: message.reply_document(file, caption=caption))


def _delete(store: Store, chat_id: int, version: int) -> bool | None:
    """Whether the deleted model was the active one; None if the chat has no such model."""
    model = store.records.get_model(chat_id, version)
    if model is None or not store.records.delete_model(chat_id, version):
        return None
    return model.is_active


def _model_file(store: Store, chat_id: int, version: int | None) -> ModelInfo | None:
    if version is None:
        active = store.records.active_model(chat_id)
        if active is None:
            return None
        version = active.version
    return store.records.get_model(chat_id, version, with_file=True)


def _quality(metrics: dict[str, Any] | None) -> str | None:
    """R² on validation data (else on training data), the one number that compares models."""
    metrics = metrics or {}
    for split in ("validation", "train"):
        accuracy = (metrics.get(split) or {}).get("accuracy")  # issue 20: a classifier's
        if accuracy is not None:
            return f"accuracy {100 * accuracy:.1f} % ({split})"
        r2 = (metrics.get(split) or {}).get("r2")
        if r2 is not None:
            return f"R² {number(r2, 4)} ({split})"
    return None
