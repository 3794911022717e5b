"""Greeting, help, and what to say to commands and chatter the bot does not understand."""

from __future__ import annotations

from telegram import Update

from bot import replies, texts
from bot.context import BotContext
from bot.parsing import parse_command


async def start(update: Update, context: BotContext) -> None:
    """/start: what this bot does and how to begin."""
    if update.message is not None:
        await replies.reply(update.message, texts.START)


async def help_command(update: Update, context: BotContext) -> None:
    """/help: every command and training option."""
    if update.message is not None:
        settings = context.settings
        limits = texts.limits_line(
            settings.limits.max_upload_bytes,
            settings.max_unfinished_jobs_per_chat,
            settings.trainings_per_hour,
            settings.max_bytes_per_chat,
            settings.keep_datasets_days if settings.prune_interval else 0,
        )
        await replies.reply(update.message, texts.help_text(limits))


async def unknown_command(update: Update, context: BotContext) -> None:
    """Any other /command addressed to this bot: point to /help."""
    message = update.message
    if message is None:
        return
    command = parse_command(message.text, context.bot.username)
    if command is not None:  # None: a command for another bot in a group
        await replies.reply(message, texts.unknown_command(command.name))


async def chatter(update: Update, context: BotContext) -> None:
    """Plain text in a private chat: say what the bot expects instead."""
    if update.message is not None:
        await replies.reply(update.message, texts.SEND_A_CSV)
