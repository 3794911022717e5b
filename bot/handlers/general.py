"""Greeting, help, and what to say to commands and chatter the bot does not understand."""

from __future__ import annotations

from telegram import Update
from telegram.constants import ChatType

from bot import replies, texts
from bot.context import BotContext
from bot.parsing import parse_command


async def start(update: Update, context: BotContext) -> None:
    """/start: what this bot does and how to begin."""
    if update.effective_message is not None:
        await replies.reply(update.effective_message, texts.START)


async def help_command(update: Update, context: BotContext) -> None:
    """/help: every command and training option."""
    if update.effective_message is not None:
        settings = context.settings
        limits = texts.limits_line(
            settings.limits.max_upload_bytes,
            settings.max_unfinished_jobs_per_chat,
            settings.trainings_per_hour,
            settings.max_bytes_per_chat,
            settings.keep_datasets_days if settings.prune_interval else 0,
        )
        await replies.reply(update.effective_message, texts.help_text(limits))


async def unknown_command(update: Update, context: BotContext) -> None:
    """Any other /command addressed to this bot: point to /help."""
    message = update.effective_message
    if message is None:
        return
    command = parse_command(message.text, context.bot.username)
    if command is not None:  # None: a command for another bot in a group
        await replies.reply(message, texts.unknown_command(command.name))


async def photo(update: Update, context: BotContext) -> None:
    """A photo (a screenshot of a table): say to send the table as a file. In groups only when
    its caption asks the bot something, as people share photos there for each other."""
    message = update.effective_message
    if message is None:
        return
    command = parse_command(message.caption, context.bot.username)
    asked = command is not None and command.name in ("train", "predict")
    if asked or message.chat.type == ChatType.PRIVATE:
        await replies.reply(message, texts.PHOTO_OF_TABLE)


async def chatter(update: Update, context: BotContext) -> None:
    """Plain text in a private chat: say what the bot expects instead."""
    if update.effective_message is not None:
        await replies.reply(update.effective_message, texts.SEND_A_CSV)
