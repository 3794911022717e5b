"""The buttons under a CSV sent with no command: "Train on this file", "Predict with model vN".

The offer is a reply to the CSV, so a press finds the file through the offer itself: nothing is
kept in memory and an offer still works after a restart.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from telegram import Document, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update

from bot import texts
from bot.context import BotContext

TRAIN = "train"
PREDICT = "predict"
# chat_data key: offers already taken up, so that a double tap queues one job, not two.
USED_OFFERS = "used_offers"


@dataclass(frozen=True)
class Offer:
    message: Message
    source: Message
    document: Document


def keyboard(model_version: int | None) -> InlineKeyboardMarkup:
    buttons = [InlineKeyboardButton(texts.BUTTON_TRAIN, callback_data=TRAIN)]
    if model_version is not None:
        label = texts.BUTTON_PREDICT.format(version=model_version)
        buttons.append(InlineKeyboardButton(label, callback_data=PREDICT))
    return InlineKeyboardMarkup([[button] for button in buttons])


async def take(update: Update, context: BotContext) -> Offer | None:
    """The pressed offer and its file, the first time it is pressed; else answer and None."""
    query = update.callback_query
    if query is None:
        return None
    offer = query.message if isinstance(query.message, Message) else None
    source = offer.reply_to_message if offer is not None else None
    if offer is None or source is None or source.document is None:
        await query.answer(texts.FILE_GONE, show_alert=True)
        return None
    assert context.chat_data is not None  # a button press always comes from a chat
    used: deque[int] = context.chat_data.setdefault(USED_OFFERS, deque(maxlen=100))
    if offer.message_id in used:
        await query.answer(texts.ALREADY_STARTED)
        return None
    used.append(offer.message_id)
    await query.answer()
    return Offer(offer, source, source.document)
