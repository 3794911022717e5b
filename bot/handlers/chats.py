"""A group that became a supergroup: what the chat owns follows it to the new chat id."""

from __future__ import annotations

import logging

from telegram import Update

from bot.context import BotApplication, BotContext
from storage.chats import migrate_chat

log = logging.getLogger(__name__)


async def migrated(update: Update, context: BotContext) -> None:
    """The service message of an upgrade (in the old group, and again in the new supergroup)."""
    message = update.effective_message
    if message is None:
        return
    if message.migrate_to_chat_id:
        old, new = message.chat.id, message.migrate_to_chat_id
    elif message.migrate_from_chat_id:
        old, new = message.migrate_from_chat_id, message.chat.id
    else:
        return
    moved = await context.db(migrate_chat, context.store.db, old, new)
    log.info("chat %s is now %s: moved %s", old, new, moved, extra={"chat_id": new})
    move_chat_data(context.application, old, new)
    allowed = context.settings.allowed_chats
    if old in allowed and new not in allowed:
        log.warning(
            "chat %s became %s: add %s to TRAINBOT_ALLOWED_CHATS to keep serving it",
            old, new, new, extra={"chat_id": new},
        )  # fmt: skip


def move_chat_data(application: BotApplication, old: int, new: int) -> None:
    """Carry the old chat's in-memory state (offers taken, a /train waiting) to the new id."""
    # Only when there is something to carry and nothing there yet: PTB's migrate_chat_data
    # would otherwise replace the new chat's state with an empty one on the second notice.
    if old in application.chat_data and new not in application.chat_data:
        application.migrate_chat_data(old_chat_id=old, new_chat_id=new)
