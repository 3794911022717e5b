"""The global error handler: the traceback goes to the log, a plain apology to the user."""

from __future__ import annotations

import contextlib
import logging

from telegram import Update
from telegram.error import NetworkError, TelegramError

from bot import texts
from bot.context import BotContext

log = logging.getLogger(__name__)


async def on_error(update: object, context: BotContext) -> None:
    """Log an error raised while handling an update, and tell the user something went wrong."""
    error = context.error
    if update is None and isinstance(error, NetworkError):
        # Polling hiccups: PTB retries by itself; a traceback each time would only be noise.
        log.warning("polling Telegram failed: %s", error)
        return
    chat = update.effective_chat if isinstance(update, Update) else None
    log.error(
        "error while handling an update",
        exc_info=error,
        extra={"chat_id": chat.id} if chat is not None else None,
    )
    if chat is None:
        return
    if isinstance(update, Update) and update.callback_query is not None:
        # The button stops spinning; it may have been answered already, which is fine.
        with contextlib.suppress(TelegramError):
            await update.callback_query.answer()
    try:
        await context.bot.send_message(chat.id, texts.SOMETHING_WENT_WRONG)
    except TelegramError as failure:
        log.warning("could not tell chat %s about the error: %s", chat.id, failure)
