"""The opening of a command that takes one argument (/status 12, /use v2), done once.

    @one_argument(parse_model_version, texts.model_usage("use"))
    async def use(asked: Asked[int], context: BotContext) -> None: ...

makes a PTB callback `(update, context)` that ignores updates without a message or chat,
parses `context.args`, and answers a wrong argument with the usage sentence, so the handler
starts where its own work does.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from telegram import Message, Update

from bot import replies
from bot.context import BotContext

T = TypeVar("T")


@dataclass(frozen=True)
class Asked(Generic[T]):
    """A command's message, its chat, and its argument read (None: an optional one left out)."""

    message: Message
    chat_id: int
    value: T


Handler = Callable[[Update, BotContext], Awaitable[None]]


def one_argument(
    parse: Callable[[list[str]], T | None], usage: str, *, optional: bool = False
) -> Callable[[Callable[[Asked[T], BotContext], Awaitable[None]]], Handler]:
    """A handler of `asked` from one argument that `parse` reads (None: not one it knows).

    With `optional`, the command may come without it (/status: the latest job) and the
    handler gets None.
    """

    def decorate(handler: Callable[[Asked[T], BotContext], Awaitable[None]]) -> Handler:
        @functools.wraps(handler)
        async def callback(update: Update, context: BotContext) -> None:
            message, chat = update.effective_message, update.effective_chat
            if message is None or chat is None:
                return
            args = list(context.args or [])
            value = parse(args) if args or not optional else None
            if value is None and (args or not optional):
                await replies.reply(message, usage)
                return
            await handler(Asked(message, chat.id, value), context)  # type: ignore[arg-type]

        return callback

    return decorate
