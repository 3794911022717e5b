"""Who may use the bot: optional allowlists of users and chats, with a polite refusal."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop

from bot import replies, texts
from bot.context import BotContext
from trainbot.settings import Settings
from trainer.words import size

log = logging.getLogger(__name__)


def is_allowed(settings: Settings, user_id: int | None, chat_id: int | None) -> bool:
    """Open when both allowlists are empty; else the user or the chat must be on one."""
    if not settings.allowlist_enabled:
        return True
    return (user_id is not None and user_id in settings.allowed_users) or (
        chat_id is not None and chat_id in settings.allowed_chats
    )


def warn_if_open(settings: Settings) -> None:
    """Say at start, loudly, that a bot without an allowlist serves anyone on Telegram."""
    if settings.allowlist_enabled:
        return
    trainings = settings.trainings_per_hour or "unlimited"
    stored = size(settings.max_bytes_per_chat) if settings.max_bytes_per_chat else "unlimited"
    log.warning(
        "No allowlist is set (TRAINBOT_ALLOWED_USERS, TRAINBOT_ALLOWED_CHATS): anyone on "
        "Telegram can use this bot, within its quotas (%s trainings an hour per user, %s stored "
        "per chat). Set an allowlist to keep it to the people you know.",
        trainings, stored,
    )  # fmt: skip


async def gate(update: Update, context: BotContext) -> None:
    """Stop every update from outside the allowlists before any handler sees it."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        # Channel posts and the like: nobody to serve and nobody to answer.
        raise ApplicationHandlerStop
    if is_allowed(context.settings, user.id, chat.id):
        return
    log.info("refused user %s in chat %s", user.id, chat.id, extra={"chat_id": chat.id})
    if update.callback_query is not None:
        await update.callback_query.answer(texts.NOT_ALLOWED_SHORT, show_alert=True)
    elif update.effective_message is not None and _addressed_to_bot(update):
        await replies.reply(update.effective_message, texts.not_allowed(user.id))
    raise ApplicationHandlerStop


def _addressed_to_bot(update: Update) -> bool:
    """In groups answer only commands, so a refused member is not answered on every message."""
    message = update.effective_message
    if message is None or message.chat.type == ChatType.PRIVATE:
        return True
    return (message.text or message.caption or "").startswith("/")
