"""The fake Bot API server behaves like Telegram for the real python-telegram-bot stack."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dtm
import socket
import struct
import time
import zlib
from collections.abc import AsyncIterator

import aiohttp
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import (
    BadRequest,
    ChatMigrated,
    EndPointNotFound,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
)

from tests.fake_telegram import NOT_MODIFIED, FakeTelegram

CHAT = 4242
GROUP = -1001234567890


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    """A running fake server."""
    async with FakeTelegram(bot_username="trainbot_test") as server:
        yield server


@pytest.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[Bot]:
    """A real PTB Bot pointed at the fake."""
    async with Bot(tg.token, base_url=tg.base_url, base_file_url=tg.base_file_url) as real_bot:
        yield real_bot


def build_app(tg: FakeTelegram, *handlers: BaseHandler) -> Application:
    """Build a real Application that talks to the fake."""
    app = (
        ApplicationBuilder()
        .token(tg.token)
        .base_url(tg.base_url)
        .base_file_url(tg.base_file_url)
        .build()
    )
    for handler in handlers:
        app.add_handler(handler)
    return app


@contextlib.asynccontextmanager
async def polling(tg: FakeTelegram, *handlers: BaseHandler) -> AsyncIterator[Application]:
    """Run an Application with long polling (short timeout) for the body of the block."""
    app = build_app(tg, *handlers)
    async with app:
        await app.start()
        await app.updater.start_polling(poll_interval=0, timeout=1)
        try:
            yield app
        finally:
            await app.updater.stop()
            await app.stop()


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Greet the user by first name."""
    await update.effective_message.reply_text(f"Hello, {update.effective_user.first_name}!")


def png(width: int, height: int) -> bytes:
    """Return a valid grey PNG image of the given size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        checksum = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + checksum

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\0" + b"\x80" * width for _ in range(height)))
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def retry_seconds(error: RetryAfter) -> float:
    """Return retry_after in seconds whichever type this PTB version hands out."""
    value = error.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


async def test_get_me_identifies_the_fake_bot(tg: FakeTelegram, bot: Bot) -> None:
    me = await bot.get_me()

    assert me.username == "trainbot_test"
    assert me.id == tg.bot_id
    assert me.is_bot
    assert tg.calls_to("getMe")


async def test_start_command_reaches_the_handler_and_the_reply_is_recorded(
    tg: FakeTelegram,
) -> None:
    async with polling(tg, CommandHandler("start", start)):
        tg.send_text(CHAT, "/start")
        reply = await tg.wait_for(chat_id=CHAT, contains="Hello", timeout=5)
        # In a group the command may name the bot, as Telegram clients do.
        tg.send_text(GROUP, "/start@trainbot_test", user_id=77)
        group_reply = await tg.wait_for(chat_id=GROUP, timeout=5)

    assert reply.text == f"Hello, Tester{CHAT}!"
    assert group_reply.chat["type"] == "supergroup"
    assert group_reply.text == "Hello, Tester77!"
    assert group_reply.reply_to is not None  # PTB quotes the command in groups
    assert [m.text for m in tg.sent(CHAT)] == [reply.text]
    assert tg.pending_updates == []  # the updater confirmed both updates on its way out
    assert tg.calls_to("deleteWebhook")
    assert not tg.failed_calls


async def test_edit_applies_and_same_content_is_not_modified(tg: FakeTelegram, bot: Bot) -> None:
    tg.add_chat(CHAT)
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Stop", callback_data="stop")]])
    sent = await bot.send_message(CHAT, "Training: 10%", reply_markup=keyboard)

    await bot.edit_message_text("Training: 50%", CHAT, sent.message_id, reply_markup=keyboard)
    with pytest.raises(BadRequest, match=r"(?i)not modified"):
        await bot.edit_message_text("Training: 50%", CHAT, sent.message_id, reply_markup=keyboard)
    # Leaving the markup out removes the keyboard, so this edit is a change.
    await bot.edit_message_text("Training: 50%", CHAT, sent.message_id)
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("Done", CHAT, 999)

    [message] = tg.sent(CHAT)
    assert message.text == "Training: 50%"
    assert message.edit_count == 2
    assert message.reply_markup is None
    assert [e.reply_markup is not None for e in tg.edits(CHAT, sent.message_id)] == [True, False]
    assert tg.failed_calls[0].description == NOT_MODIFIED


async def test_limits_and_unknown_chats_are_rejected_and_nothing_is_recorded(
    tg: FakeTelegram, bot: Bot
) -> None:
    tg.add_chat(CHAT)

    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(CHAT, "x" * 4097)
    with pytest.raises(BadRequest, match=r"(?i)message caption is too long"):
        await bot.send_photo(CHAT, png(4, 4), caption="x" * 1025)
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(555, "hello")
    await bot.send_message(CHAT, "x" * 4096)

    assert len(tg.sent(CHAT)) == 1
    assert [c.method for c in tg.failed_calls] == ["sendMessage", "sendPhoto", "sendMessage"]


# PTB 22 warns that retry_after will become a timedelta; retry_seconds accepts both.
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_rate_limit_raises_retry_after_and_the_message_arrives_once(
    tg: FakeTelegram, bot: Bot
) -> None:
    tg.add_chat(CHAT)
    tg.fail_next("sendMessage", status=429, retry_after=3)

    with pytest.raises(RetryAfter) as raised:
        await bot.send_message(CHAT, "report ready")
    await bot.send_message(CHAT, "report ready")

    assert retry_seconds(raised.value) == 3
    assert [m.text for m in tg.sent(CHAT)] == ["report ready"]
    assert tg.failed_calls[0].description == "Too Many Requests: retry after 3"


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_a_429_meant_for_one_chat_leaves_the_others_alone(tg: FakeTelegram, bot: Bot) -> None:
    other = CHAT + 1
    tg.add_chat(CHAT)
    tg.add_chat(other)
    tg.fail_next("sendMessage", status=429, retry_after=2, chat_id=CHAT)

    await bot.send_message(other, "first")
    with pytest.raises(RetryAfter):
        await bot.send_message(CHAT, "held")
    await bot.send_message(CHAT, "then sent")

    assert [m.text for m in tg.sent(other)] == ["first"]
    assert [m.text for m in tg.sent(CHAT)] == ["then sent"]


@pytest.mark.parametrize("status", [500, 502])
async def test_server_errors_raise_network_error(tg: FakeTelegram, bot: Bot, status: int) -> None:
    tg.add_chat(CHAT)
    tg.fail_next("sendMessage", status=status, times=2)

    for _ in range(2):
        with pytest.raises(NetworkError):
            await bot.send_message(CHAT, "hi")
    await bot.send_message(CHAT, "hi")

    assert len(tg.sent(CHAT)) == 1


async def test_a_user_document_downloads_with_the_same_bytes(tg: FakeTelegram, bot: Bot) -> None:
    content = b"x,y\n1,2\n3,4\n"
    message = tg.send_document(CHAT, "data.csv", content, caption="/train@trainbot_test")

    file = await bot.get_file(message["document"]["file_id"])
    downloaded = await file.download_as_bytearray()

    assert bytes(downloaded) == content
    assert message["document"]["file_name"] == "data.csv"
    assert message["caption_entities"] == [{"type": "bot_command", "offset": 0, "length": 20}]
    assert tg.downloads == [message["document"]["file_id"]]


async def test_send_photo_records_the_bytes(tg: FakeTelegram, bot: Bot) -> None:
    tg.add_chat(CHAT)
    image = png(640, 480)

    sent = await bot.send_photo(CHAT, image, caption="Loss curve")

    [message] = tg.sent(CHAT)
    assert message.photo_bytes == image
    assert message.caption == "Loss curve"
    assert (sent.photo[-1].width, sent.photo[-1].height) == (640, 480)
    assert sent.photo[-1].file_size == len(image)


async def test_an_oversize_document_is_refused_by_get_file_and_never_downloaded(
    tg: FakeTelegram, bot: Bot
) -> None:
    message = tg.send_document(CHAT, "big.csv", b"a,b\n", file_size=25 * 1024 * 1024)

    with pytest.raises(BadRequest, match=r"(?i)file is too big"):
        await bot.get_file(message["document"]["file_id"])

    assert [c.method for c in tg.failed_calls] == ["getFile"]
    assert tg.downloads == []


async def test_a_button_press_reaches_the_callback_handler_and_is_answered(
    tg: FakeTelegram,
) -> None:
    async def on_stop(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.callback_query.answer("Stopping")
        await update.callback_query.edit_message_text("Stopped")

    async with polling(tg, CallbackQueryHandler(on_stop, pattern="^stop$")) as app:
        tg.add_chat(CHAT)
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Stop", callback_data="stop")]])
        sent = await app.bot.send_message(CHAT, "Training…", reply_markup=keyboard)
        query_id = tg.press_button(CHAT, sent.message_id, "stop")
        await tg.wait_for(lambda m: m.text == "Stopped", timeout=5)

    assert tg.answered_callbacks[0]["callback_query_id"] == query_id
    assert tg.answered_callbacks[0]["text"] == "Stopping"
    with pytest.raises(AssertionError, match="no button"):
        tg.press_button(CHAT, sent.message_id, "resume")


async def test_long_polling_waits_for_a_push_and_honours_offset(tg: FakeTelegram, bot: Bot) -> None:
    began = time.monotonic()
    assert await bot.get_updates(timeout=0.3) == ()
    assert time.monotonic() - began >= 0.25

    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    tg.send_text(CHAT, "first")
    [first] = await asyncio.wait_for(poll, 2)
    tg.send_text(CHAT, "second")

    again = await bot.get_updates(timeout=0)
    confirmed = await bot.get_updates(offset=first.update_id + 1, limit=1, timeout=0)

    assert [u.message.text for u in again] == ["first", "second"]
    assert [u.message.text for u in confirmed] == ["second"]
    assert len(tg.pending_updates) == 1


async def test_parse_modes_reject_what_telegram_rejects(tg: FakeTelegram, bot: Bot) -> None:
    tg.add_chat(CHAT)

    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(CHAT, "loss < 0.1", parse_mode="HTML")
    # The bot writes HTML only: the fake refuses Markdown rather than parse it.
    with pytest.raises(BadRequest, match=r"(?i)unsupported parse_mode"):
        await bot.send_message(CHAT, r"*loss* 0\.1", parse_mode="MarkdownV2")
    html = await bot.send_message(CHAT, "<b>loss</b> &lt; 0.1 😀 <i>ok</i>", parse_mode="HTML")

    assert html.text == "loss < 0.1 😀 ok"
    # Offsets count UTF-16 code units, as Telegram's do: the emoji counts two.
    assert [(e.type, e.offset, e.length) for e in html.entities] == [
        ("bold", 0, 4),
        ("italic", 14, 2),
    ]


async def test_an_unclosed_tag_is_refused_in_texts_and_captions(tg: FakeTelegram, bot: Bot) -> None:
    tg.add_chat(CHAT)
    table = "<b>Table</b>\n<pre>row 1\nrow 2\n…"

    with pytest.raises(BadRequest, match=r"(?i)can't parse entities.*end tag.*pre"):
        await bot.send_message(CHAT, table, parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_photo(CHAT, png(2, 2), caption="<i>plot", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(CHAT, "<b>bold <i>both</b></i>", parse_mode="HTML")

    assert tg.sent(CHAT) == []


async def test_a_too_large_upload_raises_network_error(tg: FakeTelegram, bot: Bot) -> None:
    tg.add_chat(CHAT)
    tg.fail_next("sendDocument", status=413)

    with pytest.raises(NetworkError, match=r"(?i)too large"):
        await bot.send_document(CHAT, b"x" * 100, filename="big.csv")

    assert tg.failed_calls[0].error_code == 413 and tg.sent(CHAT) == []


async def test_a_migrated_group_answers_chat_migrated_and_announces_it(
    tg: FakeTelegram, bot: Bot
) -> None:
    old = -4242
    tg.add_chat(old, chat_type="group", title="Lab")
    await bot.send_message(old, "before")

    supergroup = tg.migrate_chat(old, GROUP)

    with pytest.raises(ChatMigrated) as raised:
        await bot.send_message(old, "after")
    assert raised.value.new_chat_id == GROUP
    await bot.send_message(GROUP, "after")
    assert supergroup["type"] == "supergroup" and supergroup["title"] == "Lab"
    assert [m.text for m in tg.sent(old)] == ["before"]
    assert [m.text for m in tg.sent(GROUP)] == ["after"]
    notices = [u["message"] for u in tg.pending_updates]
    assert [(n["chat"]["id"], n.get("migrate_to_chat_id")) for n in notices] == [
        (old, GROUP),
        (GROUP, None),
    ]
    assert notices[1]["migrate_from_chat_id"] == old


async def test_commands_are_recorded_and_validated(tg: FakeTelegram, bot: Bot) -> None:
    await bot.set_my_commands([("train", "Train a model"), ("status", "Show progress")])

    with pytest.raises(BadRequest, match=r"(?i)bot_command_invalid"):
        await bot.set_my_commands([("Train", "Capitals are not allowed")])

    assert [c["command"] for c in tg.commands] == ["train", "status"]
    assert [c.command for c in await bot.get_my_commands()] == ["train", "status"]


async def test_an_unknown_method_is_not_found(tg: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("sendTelepathy", api_kwargs={"chat_id": CHAT})

    assert tg.failed_calls[0].error_code == 404


async def test_closing_releases_a_pending_long_poll(tg: FakeTelegram, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=30))
    await asyncio.sleep(0.1)

    await tg.close()

    assert await asyncio.wait_for(poll, 2) == ()


async def test_updates_reach_a_loopback_webhook(tg: FakeTelegram) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = build_app(tg, CommandHandler("start", start))
    async with app:
        await app.start()
        await app.updater.start_webhook(
            listen="127.0.0.1",
            port=port,
            url_path="hook",
            webhook_url=f"http://127.0.0.1:{port}/hook",
            secret_token="s3cret",
        )
        try:
            tg.send_text(CHAT, "/start")
            reply = await tg.wait_for(chat_id=CHAT, timeout=5)
            with pytest.raises(BadRequest, match=r"(?i)https url must be provided"):
                await app.bot.set_webhook("http://example.org/hook")
        finally:
            await app.updater.stop()
            await app.stop()

    assert reply.text.startswith("Hello")
    assert tg.webhook["secret_token"] == "s3cret"
    assert tg.webhook_deliveries[-1]["status"] == 200


async def test_a_late_answer_hides_a_message_that_was_sent(tg: FakeTelegram, bot: Bot) -> None:
    tg.add_chat(CHAT)
    tg.delay_next("sendMessage", 0.5, after_effect=True)

    with pytest.raises(TimedOut):
        await bot.send_message(CHAT, "done", read_timeout=0.1)

    assert [m.text for m in tg.sent(CHAT)] == ["done"]


async def test_wait_for_explains_what_happened_on_timeout(tg: FakeTelegram, bot: Bot) -> None:
    tg.add_chat(CHAT)
    await bot.send_message(CHAT, "something else")

    with pytest.raises(AssertionError, match="something else"):
        await tg.wait_for(contains="never sent", timeout=0.2)


async def test_json_bodies_work_like_forms_and_unknown_methods_answer_404(
    tg: FakeTelegram, bot: Bot
) -> None:
    tg.add_chat(GROUP)
    keyboard = {"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]}
    async with aiohttp.ClientSession(base_url=tg.base_url.removesuffix("/bot")) as session:
        payload = {"chat_id": GROUP, "text": "123", "reply_markup": keyboard}
        async with session.post(f"/bot{tg.token}/sendMessage", json=payload) as response:
            sent = await response.json()
        async with session.post(f"/bot{tg.token}/sendTelepathy", json={}) as response:
            missing = (response.status, await response.json())
    # A numeric text sent as a form field must stay text.
    form_sent = await bot.send_message(GROUP, "456")

    assert sent["ok"] and sent["result"]["text"] == "123"
    assert sent["result"]["chat"]["type"] == "supergroup"
    assert sent["result"]["reply_markup"] == keyboard
    assert form_sent.text == "456"
    assert [m.buttons for m in tg.sent(GROUP)] == [[{"text": "Go", "callback_data": "go"}], []]
    assert missing == (404, {"ok": False, "error_code": 404, "description": "Not Found"})
