"""The buttons under a CSV sent with no command: "Train on this file", "Predict with model vN".

The offer is a reply to the CSV, so a press finds the file through the offer itself: nothing is
kept in memory and an offer still works after a restart. What is kept (in chat_data) is which
offers were taken up, by a press or by training the file another way (/train as a reply, a bare
/train soon after it), so that a late tap says so instead of training the file twice.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from telegram import Document, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update

from bot import texts
from bot.context import BotContext

TRAIN = "train"
PREDICT = "predict"
# chat_data keys: offers already taken up (offer message id → the job it started, if known),
# and the offer made for each file (file message id → offer message id).
USED_OFFERS = "used_offers"
OFFERS_BY_FILE = "offers_by_file"
# Remembered per chat: the latest offers are the ones people still tap.
REMEMBERED = 100


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


def made(context: BotContext, file_message_id: int, offer_message_id: int) -> None:
    """Remember the offer made for a file, so that training it another way settles it."""
    _remember(_table(context, OFFERS_BY_FILE), file_message_id, offer_message_id)


def settle(context: BotContext, file_message_id: int, job_id: int | None) -> None:
    """The file of an offer is being trained another way: a tap on the offer now says so."""
    offer_id = _table(context, OFFERS_BY_FILE).get(file_message_id)
    if offer_id is not None:
        _remember(_table(context, USED_OFFERS), offer_id, job_id)


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
    used = _table(context, USED_OFFERS)
    if offer.message_id in used:
        await query.answer(texts.already_training(used[offer.message_id]), show_alert=True)
        return None
    _remember(used, offer.message_id, None)
    await query.answer()
    return Offer(offer, source, source.document)


def _table(context: BotContext, key: str) -> OrderedDict[int, int | None]:
    assert context.chat_data is not None  # offers and their files always belong to a chat
    table = context.chat_data.get(key)
    if not isinstance(table, OrderedDict):
        table = context.chat_data[key] = OrderedDict()
    return table


def _remember(table: OrderedDict[int, int | None], key: int, value: int | None) -> None:
    table[key] = value
    table.move_to_end(key)
    while len(table) > REMEMBERED:
        table.popitem(last=False)
