"""A fake Telegram Bot API server that the real python-telegram-bot stack talks to in tests."""

# Usage: `async with FakeTelegram() as tg:`, then build the bot with
# `ApplicationBuilder().token(tg.token).base_url(tg.base_url).base_file_url(tg.base_file_url)`.
# The test plays the user (send_text, send_document, press_button) and asserts on what the fake
# recorded (sent, calls, wait_for). Errors are shaped like Telegram's, so PTB raises the same
# exceptions it would in production (BadRequest, RetryAfter, NetworkError...).

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import re
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

# How Telegram counts text (UTF-16 code units) is a fact of the encoding, not bot logic.
from bot.formatting import utf16_len

# Limits documented by the Bot API; the fake enforces them so that oversights fail in tests.
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_GET_FILE_SIZE = 20 * 1024 * 1024
MAX_UPLOAD_SIZE = 50 * 1024 * 1024

DEFAULT_USER_ID = 1001
DEFAULT_BOT_ID = 123456789

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
_QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"
MIGRATED = "Bad Request: group chat was upgraded to a supergroup chat"
_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict",
    413: "Request Entity Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
}
# Telegram holds these back unless allowed_updates names them explicitly.
_OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_CHAT_ACTIONS = frozenset({
    "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
    "upload_document", "choose_sticker", "find_location", "record_video_note",
    "upload_video_note",
})  # fmt: skip
# Form values arrive as strings with JSON-encoded non-strings; these names are never decoded,
# so that a message "123" stays text and is not turned into a number.
_STRING_PARAMS = frozenset({
    "text", "caption", "parse_mode", "callback_query_id", "file_id", "url", "action",
    "secret_token", "language_code", "inline_message_id", "business_connection_id",
    "description", "short_description", "name", "photo", "document", "message_effect_id",
    "ip_address", "title",
})  # fmt: skip
_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?=\s|$)")
_BOT_COMMAND_NAME_RE = re.compile(r"[a-z0-9_]{1,32}")
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class TelegramApiError(Exception):
    """A Bot API error answer: HTTP status, description and optional response parameters."""

    def __init__(
        self, status: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def body(self) -> dict[str, Any]:
        """Return the JSON body Telegram sends for this error."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad_request(detail: str) -> TelegramApiError:
    return TelegramApiError(400, f"Bad Request: {detail}")


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart request, as the bot uploaded it."""

    filename: str
    content_type: str
    data: bytes


@dataclass
class Call:
    """One bot→server API request as the fake answered it."""

    method: str
    params: dict[str, Any]
    time: float
    token: str
    ok: bool = True
    result: Any = None
    error_code: int | None = None
    description: str | None = None

    def summary(self) -> str:
        """Return a one-line description for failure messages."""
        shown = {
            k: (f"<{v.filename}: {len(v.data)} bytes>" if isinstance(v, Upload) else v)
            for k, v in self.params.items()
        }
        text = f"{self.method}({json.dumps(shown, default=str, ensure_ascii=False)[:200]})"
        return text if self.ok else f"{text} -> {self.error_code} {self.description}"


@dataclass
class Edit:
    """The state of a message right after one edit."""

    time: float
    method: str
    text: str | None
    caption: str | None
    reply_markup: dict[str, Any] | None


@dataclass
class ChatMessage:
    """A message sent by the bot or pushed by a test user; the fields show its current state."""

    chat: dict[str, Any]
    message_id: int
    sender: dict[str, Any]
    from_bot: bool
    date: int
    sent_at: float
    text: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    caption: str | None = None
    caption_entities: list[dict[str, Any]] = field(default_factory=list)
    parse_mode: str | None = None
    reply_markup: dict[str, Any] | None = None
    reply_to: ChatMessage | None = None
    photo: list[dict[str, Any]] | None = None
    photo_bytes: bytes | None = None
    document: dict[str, Any] | None = None
    document_bytes: bytes | None = None
    edit_count: int = 0
    edit_date: int | None = None
    deleted: bool = False
    edits: list[Edit] = field(default_factory=list)

    @property
    def chat_id(self) -> int:
        """Return the id of the chat the message is in."""
        return int(self.chat["id"])

    @property
    def kind(self) -> str:
        """Return "photo", "document" or "text"."""
        if self.photo is not None:
            return "photo"
        if self.document is not None:
            return "document"
        return "text"

    @property
    def content(self) -> str:
        """Return the text or caption, or "" when there is neither."""
        return self.text or self.caption or ""

    @property
    def document_name(self) -> str | None:
        """Return the file name of an attached document."""
        return self.document.get("file_name") if self.document else None

    @property
    def document_mime_type(self) -> str | None:
        """Return the MIME type of an attached document."""
        return self.document.get("mime_type") if self.document else None

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """Return the inline keyboard buttons, row by row, flattened."""
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [button for row in rows for button in row]

    def to_dict(self, *, with_reply: bool = True) -> dict[str, Any]:
        """Return the Telegram Message object for the current state."""
        message: dict[str, Any] = {
            "message_id": self.message_id,
            "from": self.sender,
            "chat": self.chat,
            "date": self.date,
        }
        if self.edit_date is not None:
            message["edit_date"] = self.edit_date
        if with_reply and self.reply_to is not None:
            # Telegram does not nest replies deeper than one level.
            message["reply_to_message"] = self.reply_to.to_dict(with_reply=False)
        if self.text is not None:
            message["text"] = self.text
            if self.entities:
                message["entities"] = self.entities
        if self.photo is not None:
            message["photo"] = self.photo
        if self.document is not None:
            message["document"] = self.document
        if self.caption is not None:
            message["caption"] = self.caption
            if self.caption_entities:
                message["caption_entities"] = self.caption_entities
        # Only inline keyboards stay attached to a message; reply keyboards are not echoed.
        if self.reply_markup and "inline_keyboard" in self.reply_markup:
            message["reply_markup"] = self.reply_markup
        return message


@dataclass
class _StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    size: int
    data: bytes
    path_issued: bool = False


@dataclass
class _Fault:
    status: int
    description: str
    parameters: dict[str, Any] | None
    times: int | None
    chat_id: int | None = None


@dataclass
class _Delay:
    seconds: float
    after_effect: bool
    times: int | None


class _Signal:
    """Wakes every waiter on each notify; waiters re-check their own condition."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        """Wake everyone waiting now."""
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, seconds: float) -> None:
        """Wait for the next notify, or for seconds at most."""
        event = self._event
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)


# --- formatting: parse_mode → plain text and entities, with Telegram's complaints -------------


class _TextBuilder:
    """Collects plain text and tracks its length in UTF-16 code units, as entity offsets count."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.length += utf16_len(text)

    def text(self) -> str:
        return "".join(self.parts)


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode())


def _cant_parse(detail: str) -> TelegramApiError:
    return _bad_request(f"can't parse entities: {detail}")


_HTML_TAGS = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
    "ins": "underline", "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "tg-spoiler": "spoiler", "span": "spoiler", "a": "text_link", "code": "code", "pre": "pre",
    "blockquote": "blockquote", "tg-emoji": "custom_emoji",
}  # fmt: skip
_HTML_START_TAG = re.compile(
    r"<([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>\"']+))?)*)\s*>"
)
_HTML_END_TAG = re.compile(r"</([a-zA-Z][a-zA-Z0-9-]*)\s*>")
_HTML_ATTR = re.compile(r"([a-zA-Z-]+)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s>\"']+)))?")
_HTML_ENTITY = re.compile(r"&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);")
_HTML_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def _parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    out = _TextBuilder()
    entities: list[dict[str, Any]] = []
    stack: list[tuple[str, int, dict[str, str]]] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "<":
            if end := _HTML_END_TAG.match(text, i):
                name = end[1].lower()
                if not stack or stack[-1][0] != name:
                    expected = f'expected "</{stack[-1][0]}>", ' if stack else ""
                    raise _cant_parse(
                        f"Unmatched end tag at byte offset {_byte_offset(text, i)}, "
                        f'{expected}found "</{name}>"'
                    )
                tag, start, attrs = stack.pop()
                if out.length > start:
                    entities.append(_html_entity(tag, start, out.length - start, attrs))
                i = end.end()
                continue
            start_tag = _HTML_START_TAG.match(text, i)
            name = start_tag[1].lower() if start_tag else ""
            attrs = {
                m[1].lower(): m[2] or m[3] or m[4] or ""
                for m in _HTML_ATTR.finditer(start_tag[2] if start_tag else "")
            }
            if name not in _HTML_TAGS or (name == "span" and attrs.get("class") != "tg-spoiler"):
                raise _cant_parse(
                    f'Unsupported start tag "{name}" at byte offset {_byte_offset(text, i)}'
                )
            assert start_tag is not None
            stack.append((name, out.length, attrs))
            i = start_tag.end()
            continue
        if char == "&" and (ref := _HTML_ENTITY.match(text, i)):
            name = ref[1]
            if name.startswith("#x"):
                out.add(chr(int(name[2:], 16)))
            elif name.startswith("#"):
                out.add(chr(int(name[1:])))
            else:
                # Unknown named entities are kept verbatim rather than rejected.
                out.add(_HTML_NAMED.get(name.lower(), ref[0]))
            i = ref.end()
            continue
        out.add(char)
        i += 1
    if stack:
        raise _cant_parse(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return out.text(), sorted(entities, key=lambda e: (e["offset"], -e["length"]))


def _html_entity(tag: str, offset: int, length: int, attrs: dict[str, str]) -> dict[str, Any]:
    entity: dict[str, Any] = {"type": _HTML_TAGS[tag], "offset": offset, "length": length}
    if tag == "a":
        entity["url"] = attrs.get("href", "")
    elif tag == "tg-emoji":
        entity["custom_emoji_id"] = attrs.get("emoji-id", "")
    elif tag == "blockquote" and "expandable" in attrs:
        entity["type"] = "expandable_blockquote"
    return entity


def format_text(
    text: str, parse_mode: str | None, entities: list[dict[str, Any]] | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """Return (plain text, entities) as Telegram would store them, or raise its parse error."""
    if entities:
        return text, list(entities)
    mode = (parse_mode or "").lower()
    if not mode:
        return text, []
    if mode == "html":
        return _parse_html(text)
    # The bot speaks HTML only; a Markdown message from it would be a mistake to hear about.
    raise _bad_request(f"unsupported parse_mode {parse_mode!r}")


def _command_entities(text: str | None) -> list[dict[str, Any]]:
    """Return the bot_command entity Telegram adds when text starts with a command."""
    match = _COMMAND_RE.match(text or "")
    if not match:
        return []
    return [{"type": "bot_command", "offset": 0, "length": utf16_len(match[0])}]


def _image_size(data: bytes) -> tuple[int, int]:
    """Read width and height from a PNG or JPEG header; unknown formats get a plausible size."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height, width = struct.unpack(">HH", data[i + 5 : i + 9])
                return int(width), int(height)
            (segment,) = struct.unpack(">H", data[i + 2 : i + 4])
            i += 2 + segment
    return 800, 600


def _scaled(width: int, height: int, side: int) -> tuple[int, int]:
    scale = min(1.0, side / max(width, height, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))


class FakeTelegram:
    """An in-process Bot API server on 127.0.0.1 that records everything the bot does."""

    def __init__(
        self,
        bot_username: str = "trainbot_test",
        *,
        bot_id: int = DEFAULT_BOT_ID,
        bot_first_name: str = "Trainbot Test",
        port: int = 0,
        sock: socket.socket | None = None,
    ) -> None:
        """`sock`: a socket bound where the bot can reach it (another network namespace's
        127.0.0.1, say) to serve on instead of 127.0.0.1:`port`."""
        self.bot_username = bot_username
        self._sock = sock
        self.bot_id = bot_id
        self.bot_user: dict[str, Any] = {
            "id": bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
        }
        self.token = f"{bot_id}:AAFakeTokenForTestsOnly-{bot_username}"
        self._port = port
        self._runner: web.AppRunner | None = None
        self._base = ""

        self.calls: list[Call] = []
        self.failed_calls: list[Call] = []
        self.answered_callbacks: list[dict[str, Any]] = []
        self.downloads: list[str] = []
        self.webhook: dict[str, Any] = {"url": ""}
        self.webhook_deliveries: list[dict[str, Any]] = []

        self._chats: dict[int, dict[str, Any]] = {}
        self._migrated: dict[int, int] = {}  # old group id → its supergroup's id
        self._messages: dict[int, list[ChatMessage]] = {}
        self._all_messages: list[ChatMessage] = []
        self._by_id: dict[tuple[int, int], ChatMessage] = {}
        self._next_message_id: dict[int, int] = {}
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 1
        self._allowed_updates: list[str] = []
        self._poll_generation = 0
        self._files: dict[str, _StoredFile] = {}
        self._files_by_path: dict[str, _StoredFile] = {}
        self._pending_callbacks: set[str] = set()
        self._next_callback = 0
        self._commands: dict[tuple[str, str], list[dict[str, str]]] = {}
        self._faults: dict[str, list[_Fault]] = {}
        self._delays: dict[str, list[_Delay]] = {}
        self._closing = False
        self._updates_signal = _Signal()
        self._changed = _Signal()
        self._webhook_task: asyncio.Task[None] | None = None

        self._methods: dict[str, tuple[str, Callable[[dict[str, Any]], Any]]] = {
            name.lower(): (name, handler)
            for name, handler in {
                "getMe": self._get_me,
                "getUpdates": self._get_updates,
                "deleteWebhook": self._delete_webhook,
                "setWebhook": self._set_webhook,
                "getWebhookInfo": self._get_webhook_info,
                "setMyCommands": self._set_my_commands,
                "getMyCommands": self._get_my_commands,
                "deleteMyCommands": self._delete_my_commands,
                "sendMessage": self._send_message,
                "editMessageText": self._edit_message_text,
                "editMessageCaption": self._edit_message_caption,
                "editMessageReplyMarkup": self._edit_message_reply_markup,
                "deleteMessage": self._delete_message,
                "sendPhoto": self._send_photo,
                "sendDocument": self._send_document,
                "sendChatAction": self._send_chat_action,
                "getFile": self._get_file,
                "getChat": self._get_chat,
                "answerCallbackQuery": self._answer_callback_query,
                "setMyDescription": self._harmless,
                "setMyShortDescription": self._harmless,
                "setMyName": self._harmless,
                "setChatMenuButton": self._harmless,
                "close": self._harmless,
                "logOut": self._harmless,
            }.items()
        }

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> FakeTelegram:
        """Start serving on 127.0.0.1 (a free port unless one was given)."""
        app = web.Application(client_max_size=MAX_UPLOAD_SIZE + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        app.router.add_route("*", "/{tail:.*}", self._handle_unknown)
        # Cancel handlers whose client hung up, so an abandoned long poll does not linger.
        self._runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=2.0
        )
        await self._runner.setup()
        sock = self._sock
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", self._port))
        port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        self._base = f"http://127.0.0.1:{port}"
        return self

    async def close(self) -> None:
        """Release pending long polls with [] and stop the server."""
        self._closing = True
        self._updates_signal.notify()
        self._changed.notify()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegram:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        """Return the value for ApplicationBuilder.base_url (PTB appends the token)."""
        return f"{self._started_base()}/bot"

    @property
    def base_file_url(self) -> str:
        """Return the value for ApplicationBuilder.base_file_url (PTB appends the token)."""
        return f"{self._started_base()}/file/bot"

    def _started_base(self) -> str:
        if not self._base:
            raise RuntimeError("FakeTelegram is not started; use 'async with FakeTelegram()'")
        return self._base

    # --- the user side ------------------------------------------------------------------------

    def add_chat(
        self, chat_id: int, *, chat_type: str | None = None, title: str | None = None
    ) -> dict[str, Any]:
        """Make a chat known (as if the user had started the bot there) and return its Chat."""
        existing = self._chats.get(chat_id)
        if existing is not None:
            if chat_type is not None and existing["type"] != chat_type:
                raise ValueError(f"chat {chat_id} is a {existing['type']}, not a {chat_type}")
            return existing
        if chat_type is None:
            chat_type = (
                "private" if chat_id > 0
                else "supergroup" if str(chat_id).startswith("-100")
                else "group"
            )  # fmt: skip
        if (chat_type == "private") != (chat_id > 0):
            raise ValueError("private chats have positive ids, groups negative ones")
        if chat_type == "private":
            chat = {"id": chat_id, "type": "private", **self._user_names(chat_id)}
        else:
            chat = {"id": chat_id, "type": chat_type, "title": title or f"Test group {-chat_id}"}
        self._chats[chat_id] = chat
        self._messages[chat_id] = []
        self._next_message_id[chat_id] = 1
        return chat

    def send_text(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        chat_type: str | None = None,
        reply_to_message_id: int | None = None,
    ) -> dict[str, Any]:
        """Push a text message from a user; commands get a bot_command entity. Return it."""
        message = self._user_message(chat_id, user_id, chat_type, reply_to_message_id)
        message.text = text
        message.entities = _command_entities(text)
        return self._push_message(message)

    def send_document(
        self,
        chat_id: int,
        filename: str,
        content: bytes,
        *,
        caption: str | None = None,
        mime_type: str = "text/csv",
        user_id: int | None = None,
        chat_type: str | None = None,
        file_size: int | None = None,
        reply_to_message_id: int | None = None,
    ) -> dict[str, Any]:
        """Push a document from a user; file_size claims a size without sending the bytes."""
        message = self._user_message(chat_id, user_id, chat_type, reply_to_message_id)
        stored = self._store_file(content, "documents", filename, size=file_size)
        message.document = {
            "file_name": filename,
            "mime_type": mime_type,
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
        }
        message.document_bytes = content
        if caption is not None:
            message.caption = caption
            message.caption_entities = _command_entities(caption)
        return self._push_message(message)

    def send_photo(
        self,
        chat_id: int,
        content: bytes = b"\x89PNG\r\n\x1a\n",
        *,
        caption: str | None = None,
        user_id: int | None = None,
        chat_type: str | None = None,
    ) -> dict[str, Any]:
        """Push a photo from a user (a screenshot of a table, say), as Telegram sends one: its
        sizes, each with a file id. Return it."""
        message = self._user_message(chat_id, user_id, chat_type, None)
        stored = self._store_file(content, "photos", "photo.jpg")
        message.photo = [
            {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
             "width": 90, "height": 60, "file_size": stored.size},
        ]  # fmt: skip
        message.photo_bytes = content
        if caption is not None:
            message.caption = caption
            message.caption_entities = _command_entities(caption)
        return self._push_message(message)

    def edit_text(self, chat_id: int, message_id: int, text: str) -> dict[str, Any]:
        """A user edits one of their text messages: Telegram sends it again, whole, as an
        edited_message update with edit_date (only to bots that asked for edited messages).
        Return it."""
        message = self._by_id.get((chat_id, message_id))
        if message is None or message.from_bot or message.text is None:
            raise AssertionError(f"no user text message {message_id} in chat {chat_id} to edit")
        message.text = text
        message.entities = _command_entities(text)
        message.edit_count += 1
        message.edit_date = int(time.time())
        as_dict = message.to_dict()
        self.push_update({"edited_message": as_dict})
        self._changed.notify()
        return as_dict

    def press_button(
        self,
        chat_id: int,
        message_id: int,
        data: str,
        *,
        user_id: int | None = None,
        strict: bool = True,
    ) -> str:
        """Push a callback query for an inline button of a bot message; return the query id."""
        # strict: a real user can only press a button that a live bot message shows.
        message = self._by_id.get((chat_id, message_id))
        if strict:
            if message is None or message.deleted or not message.from_bot:
                raise AssertionError(f"no bot message {message_id} in chat {chat_id} to press on")
            offered = [b.get("callback_data") for b in message.buttons]
            if data not in offered:
                raise AssertionError(
                    f"message {message_id} has no button with data {data!r}; it has {offered}"
                )
        chat = self.add_chat(chat_id)
        user = self._user(chat, user_id)
        self._next_callback += 1
        query_id = str(4_000_000_000_000_000_000 + self._next_callback)
        query: dict[str, Any] = {
            "id": query_id,
            "from": user,
            "chat_instance": str(abs(chat_id) * 31 + 7),
            "data": data,
        }
        if message is not None:
            query["message"] = message.to_dict()
        self._pending_callbacks.add(query_id)
        self.push_update({"callback_query": query})
        return query_id

    def migrate_chat(
        self, group_id: int, supergroup_id: int, *, announce: bool = True
    ) -> dict[str, Any]:
        """Upgrade a group to a supergroup, as Telegram does; return the supergroup's Chat.

        From now on every call naming the group fails with 400 and migrate_to_chat_id (PTB
        raises ChatMigrated). With announce, the two service messages Telegram sends arrive as
        updates: migrate_to_chat_id in the group, migrate_from_chat_id in the supergroup.
        """
        group = self.add_chat(group_id, chat_type="group")
        if not str(supergroup_id).startswith("-100"):
            raise ValueError("supergroup ids start with -100")
        supergroup = self.add_chat(supergroup_id, chat_type="supergroup", title=group["title"])
        user = self._user(group, None)
        if announce:
            notice = self._new_message(group, user, from_bot=False)
            self._record(notice)
            self.push_update({"message": {**notice.to_dict(), "migrate_to_chat_id": supergroup_id}})
            welcome = self._new_message(supergroup, user, from_bot=False)
            self._record(welcome)
            self.push_update({"message": {**welcome.to_dict(), "migrate_from_chat_id": group_id}})
        self._migrated[group_id] = supergroup_id
        return supergroup

    def push_update(self, update: dict[str, Any]) -> int:
        """Queue a raw update (without update_id) for the bot; return its update_id."""
        update_id = self._next_update_id
        self._next_update_id += 1
        self._updates.append({"update_id": update_id, **update})
        self._updates_signal.notify()
        return update_id

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Return updates not yet confirmed by the bot (via getUpdates offset or webhook)."""
        return list(self._updates)

    # --- fault injection ----------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int = 1,
        times: int | None = 1,
        description: str | None = None,
        chat_id: int | None = None,
    ) -> None:
        """Answer the next `times` calls of method (None: all of them) with a Telegram error;
        with chat_id, only calls for that chat (as Telegram's 429s are, per chat)."""
        parameters = None
        if status == 429:
            description = description or f"Too Many Requests: retry after {retry_after}"
            parameters = {"retry_after": retry_after}
        description = description or _DEFAULT_DESCRIPTIONS.get(status, "Unknown error")
        self._faults.setdefault(method.lower(), []).append(
            _Fault(status, description, parameters, times, chat_id)
        )

    def delay_next(
        self, method: str, seconds: float, *, times: int | None = 1, after_effect: bool = False
    ) -> None:
        """Hold the next `times` calls of method (None: all) for `seconds`."""
        # By default the delay comes before the call takes effect (a slow server). after_effect
        # applies the call first and only the answer is late: how a client timeout can hide a
        # message that was in fact sent.
        self._delays.setdefault(method.lower(), []).append(_Delay(seconds, after_effect, times))

    def clear_faults(self) -> None:
        """Drop every pending fault and delay."""
        self._faults.clear()
        self._delays.clear()

    # --- inspection ---------------------------------------------------------------------------

    def sent(self, chat_id: int | None = None) -> list[ChatMessage]:
        """Return the bot's messages to chat_id (or to all chats) in order, deleted ones flagged."""
        return [m for m in self.messages(chat_id) if m.from_bot]

    def messages(self, chat_id: int | None = None) -> list[ChatMessage]:
        """Return all messages, from users and the bot, of chat_id (or of all chats) in order."""
        if chat_id is not None:
            return list(self._messages.get(chat_id, []))
        return list(self._all_messages)

    def message(self, chat_id: int, message_id: int) -> ChatMessage:
        """Return one message by id; KeyError if the chat never had it."""
        return self._by_id[(chat_id, message_id)]

    def edits(self, chat_id: int, message_id: int) -> list[Edit]:
        """Return the edit history of a message, oldest first."""
        return list(self.message(chat_id, message_id).edits)

    def calls_to(self, method: str, *, failed: bool = False) -> list[Call]:
        """Return the successful (or, with failed, the failed) calls of one method."""
        pool = self.failed_calls if failed else self.calls
        return [c for c in pool if c.method.lower() == method.lower()]

    @property
    def commands(self) -> list[dict[str, str]]:
        """Return the commands last set for the default scope and all languages."""
        return self.commands_for()

    def commands_for(
        self, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, str]]:
        """Return the commands set for a scope and language."""
        return list(self._commands.get(self._scope_key(scope, language_code), []))

    async def wait_for(
        self,
        predicate: Callable[[ChatMessage], bool] | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109 - a plain number reads best in test assertions
        *,
        chat_id: int | None = None,
        contains: str | None = None,
    ) -> ChatMessage:
        """Return the first bot message that matches now or within timeout, else AssertionError."""
        # Messages already sent count, and predicates see their current (edited) state.

        def matches(m: ChatMessage) -> bool:
            return (
                (chat_id is None or m.chat_id == chat_id)
                and (contains is None or contains in m.content)
                and (predicate is None or predicate(m))
            )

        found = await self._wait(lambda: next(filter(matches, self.sent()), None), timeout)
        if found is None:
            wanted = [f"chat_id={chat_id}"] if chat_id is not None else []
            wanted += [f"contains={contains!r}"] if contains is not None else []
            wanted += [getattr(predicate, "__name__", repr(predicate))] if predicate else []
            raise AssertionError(
                f"no bot message matched ({', '.join(wanted)}) within {timeout}s\n"
                + self.describe()
            )
        return found

    async def wait_for_call(
        self,
        predicate: Callable[[Call], bool],
        timeout: float = 10.0,  # noqa: ASYNC109 - a plain number reads best in test assertions
        *,
        failed: bool = False,
    ) -> Call:
        """Return the first successful (or, with failed, failed) call that matches, waiting."""
        pool = self.failed_calls if failed else self.calls
        found = await self._wait(lambda: next(filter(predicate, pool), None), timeout)
        if found is None:
            raise AssertionError(
                f"no {'failed ' if failed else ''}call matched "
                f"{getattr(predicate, '__name__', predicate)} within {timeout}s\n" + self.describe()
            )
        return found

    def describe(self, last: int = 15) -> str:
        """Return recent calls, failures and bot messages, for assertion messages."""
        recent = [c for c in self.calls if c.method != "getUpdates"][-last:]
        lines = ["last calls (getUpdates left out):"]
        lines += [f"  {c.summary()}" for c in recent] or ["  (none)"]
        lines += ["failed calls:"]
        lines += [f"  {c.summary()}" for c in self.failed_calls[-last:]] or ["  (none)"]
        lines += ["bot messages:"]
        lines += [
            f"  chat {m.chat_id} #{m.message_id} {m.kind}{' (deleted)' if m.deleted else ''}: "
            f"{m.content[:80]!r}"
            for m in self.sent()[-last:]
        ] or ["  (none)"]
        return "\n".join(lines)

    async def _wait(self, find: Callable[[], Any], seconds: float) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            found = find()
            remaining = deadline - loop.time()
            if found is not None or remaining <= 0 or self._closing:
                return found
            await self._changed.wait(remaining)

    # --- HTTP -----------------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        requested = request.match_info["method"]
        spec = self._methods.get(requested.lower())
        try:
            params = await self._read_params(request)
        except TelegramApiError as error:
            params = {}
            return self._fail(requested, params, token, error)
        if spec is None:
            return self._fail(requested, params, token, TelegramApiError(404, "Not Found"))
        method, handler = spec
        delay = self._take(self._delays, method)
        if delay is not None and not delay.after_effect:
            await asyncio.sleep(delay.seconds)
        fault = self._take(self._faults, method, params.get("chat_id"))
        if fault is not None:
            error = TelegramApiError(fault.status, fault.description, fault.parameters)
            return self._fail(method, params, token, error)
        try:
            result = handler(params)
            if inspect.isawaitable(result):
                result = await result
        except TelegramApiError as error:
            transport = request.transport
            if error.status == 409 and (transport is None or transport.is_closing()):
                # A superseded long poll whose client already left: nobody saw this answer.
                return web.json_response(error.body(), status=error.status)
            return self._fail(method, params, token, error)
        self.calls.append(Call(method, params, time.monotonic(), token, result=result))
        self._changed.notify()
        if delay is not None and delay.after_effect:
            await asyncio.sleep(delay.seconds)
        return web.json_response({"ok": True, "result": result})

    def _fail(
        self, method: str, params: dict[str, Any], token: str, error: TelegramApiError
    ) -> web.Response:
        self.failed_calls.append(
            Call(
                method,
                params,
                time.monotonic(),
                token,
                ok=False,
                error_code=error.status,
                description=error.description,
            )
        )
        self._changed.notify()
        return web.json_response(error.body(), status=error.status)

    async def _handle_file(self, request: web.Request) -> web.Response:
        stored = self._files_by_path.get(request.match_info["path"])
        if stored is None or not stored.path_issued:
            # Telegram serves a file only after getFile handed out its path.
            return web.json_response(TelegramApiError(404, "Not Found").body(), status=404)
        self.downloads.append(stored.file_id)
        self._changed.notify()
        return web.Response(body=stored.data, content_type="application/octet-stream")

    async def _handle_unknown(self, request: web.Request) -> web.Response:
        return web.json_response(TelegramApiError(404, "Not Found").body(), status=404)

    async def _read_params(self, request: web.Request) -> dict[str, Any]:
        raw: dict[str, Any] = dict(request.query)
        try:
            if request.content_type == "application/json" and request.can_read_body:
                body = await request.json()
                if not isinstance(body, dict):
                    raise _bad_request("request body must be a JSON object")
                raw.update(body)
            elif request.can_read_body:
                for name, value in (await request.post()).items():
                    if isinstance(value, web.FileField):
                        raw[name] = Upload(value.filename, value.content_type, value.file.read())
                    else:
                        raw[name] = value
        except web.HTTPRequestEntityTooLarge as error:
            raise TelegramApiError(413, "Request Entity Too Large") from error
        except json.JSONDecodeError as error:
            raise _bad_request("can't parse JSON object") from error
        return {name: self._decode(name, value) for name, value in raw.items()}

    @staticmethod
    def _decode(name: str, value: Any) -> Any:
        if not isinstance(value, str) or name in _STRING_PARAMS:
            return value
        try:
            return json.loads(value)
        except ValueError:
            return value

    @staticmethod
    def _take(table: dict[str, list[Any]], method: str, chat_id: object = None) -> Any:
        """The first entry for this method (and, for a fault meant for one chat, this chat)."""
        queue = table.get(method.lower()) or []
        entry = next(
            (e for e in queue if getattr(e, "chat_id", None) in (None, chat_id)),
            None,
        )
        if entry is None:
            return None
        if entry.times is not None:
            entry.times -= 1
            if entry.times <= 0:
                queue.remove(entry)
        return entry

    # --- helpers for the methods --------------------------------------------------------------

    def _user_names(self, user_id: int) -> dict[str, Any]:
        return {"first_name": f"Tester{user_id}", "username": f"tester{user_id}"}

    def _user(self, chat: dict[str, Any], user_id: int | None) -> dict[str, Any]:
        if chat["type"] == "private":
            if user_id is not None and user_id != chat["id"]:
                raise ValueError("in a private chat the user id is the chat id")
            user_id = chat["id"]
        user_id = DEFAULT_USER_ID if user_id is None else user_id
        return {"id": user_id, "is_bot": False, **self._user_names(user_id), "language_code": "en"}

    def _user_message(
        self,
        chat_id: int,
        user_id: int | None,
        chat_type: str | None,
        reply_to_message_id: int | None,
    ) -> ChatMessage:
        chat = self.add_chat(chat_id, chat_type=chat_type)
        reply_to = None
        if reply_to_message_id is not None:
            reply_to = self._by_id.get((chat_id, reply_to_message_id))
            if reply_to is None:
                raise ValueError(f"no message {reply_to_message_id} in chat {chat_id}")
        return self._new_message(chat, self._user(chat, user_id), from_bot=False, reply_to=reply_to)

    def _push_message(self, message: ChatMessage) -> dict[str, Any]:
        self._record(message)
        as_dict = message.to_dict()
        self.push_update({"message": as_dict})
        return as_dict

    def _new_message(
        self,
        chat: dict[str, Any],
        sender: dict[str, Any],
        *,
        from_bot: bool,
        reply_to: ChatMessage | None = None,
    ) -> ChatMessage:
        chat_id = int(chat["id"])
        message_id = self._next_message_id[chat_id]
        self._next_message_id[chat_id] += 1
        return ChatMessage(
            chat=chat, message_id=message_id, sender=sender, from_bot=from_bot,
            date=int(time.time()), sent_at=time.monotonic(), reply_to=reply_to,
        )  # fmt: skip

    def _record(self, message: ChatMessage) -> None:
        self._messages[message.chat_id].append(message)
        self._all_messages.append(message)
        self._by_id[(message.chat_id, message.message_id)] = message
        self._changed.notify()

    def _store_file(
        self, data: bytes, folder: str, filename: str, *, size: int | None = None
    ) -> _StoredFile:
        n = len(self._files) + 1
        ext = filename.rsplit(".", 1)[-1] if "." in filename else "bin"
        prefix = "AgAC" if folder == "photos" else "BQAC"
        stored = _StoredFile(
            file_id=f"{prefix}fake{n:05d}",
            file_unique_id=f"AQADfake{n:05d}",
            file_path=f"{folder}/file_{n}.{ext}",
            size=len(data) if size is None else size,
            data=data,
        )
        self._files[stored.file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    def _chat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = params.get("chat_id")
        if chat_id in (None, ""):
            raise _bad_request("chat_id is empty")
        if isinstance(chat_id, str) and chat_id.lstrip("-").isdigit():
            chat_id = int(chat_id)
        chat = self._chats.get(chat_id) if isinstance(chat_id, int) else None
        if chat is None:
            raise _bad_request("chat not found")
        if chat_id in self._migrated:
            raise TelegramApiError(
                400, MIGRATED, {"migrate_to_chat_id": self._migrated[int(chat_id)]}
            )
        return chat

    def _message_id(self, params: dict[str, Any]) -> int:
        if params.get("inline_message_id"):
            raise _bad_request("inline messages are not supported by the fake")
        try:
            return int(params["message_id"])
        except (KeyError, TypeError, ValueError) as error:
            raise _bad_request("message identifier is not specified") from error

    def _editable(self, params: dict[str, Any], *, missing: str) -> ChatMessage:
        chat = self._chat(params)
        message = self._by_id.get((int(chat["id"]), self._message_id(params)))
        if message is None or message.deleted:
            raise _bad_request(missing)
        if not message.from_bot:
            raise _bad_request("message can't be edited")
        return message

    @staticmethod
    def _markup(params: dict[str, Any], *, inline_only: bool = False) -> dict[str, Any] | None:
        markup = params.get("reply_markup")
        if markup in (None, ""):
            return None
        if not isinstance(markup, dict):
            raise _bad_request("can't parse reply keyboard markup JSON object")
        if inline_only and "inline_keyboard" not in markup:
            raise _bad_request("inline keyboard expected")
        for row in markup.get("inline_keyboard", []):
            for button in row:
                actions = set(button) - {"text"}
                if not button.get("text") or not actions:
                    raise _bad_request(
                        "can't parse inline keyboard button: "
                        "Text buttons are unallowed in the inline keyboard"
                    )
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA_BYTES:
                    raise _bad_request("BUTTON_DATA_INVALID")
        return markup

    def _reply_target(self, chat_id: int, params: dict[str, Any]) -> ChatMessage | None:
        reply = params.get("reply_parameters") or {}
        message_id = reply.get("message_id", params.get("reply_to_message_id"))
        if message_id is None:
            return None
        allow = reply.get(
            "allow_sending_without_reply", params.get("allow_sending_without_reply", False)
        )
        target = self._by_id.get((chat_id, int(message_id)))
        if (target is None or target.deleted) and not allow:
            raise _bad_request("message to be replied not found")
        return None if target is None or target.deleted else target

    def _caption(self, params: dict[str, Any]) -> tuple[str | None, list[dict[str, Any]]]:
        caption = params.get("caption")
        if caption in (None, ""):
            return None, []
        plain, entities = format_text(
            caption, params.get("parse_mode"), params.get("caption_entities")
        )
        if len(plain) > MAX_CAPTION_LENGTH:
            raise _bad_request("message caption is too long")
        return plain, entities

    def _input_file(self, params: dict[str, Any], name: str) -> tuple[_StoredFile, Upload | None]:
        value = params.get(name)
        if isinstance(value, str) and value.startswith("attach://"):
            value = params.get(value.removeprefix("attach://"))
        if isinstance(value, Upload):
            if not value.data:
                raise _bad_request("file must be non-empty")
            folder = "photos" if name == "photo" else "documents"
            return self._store_file(value.data, folder, value.filename or name), value
        if isinstance(value, str) and value in self._files:
            return self._files[value], None
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            # The fake has no internet, and a test should not depend on it.
            raise _bad_request("failed to get HTTP URL content")
        if value in (None, ""):
            raise _bad_request(f"there is no {name} in the request")
        raise _bad_request("wrong file identifier/HTTP URL specified")

    def _new_bot_message(self, params: dict[str, Any]) -> ChatMessage:
        chat = self._chat(params)
        reply_to = self._reply_target(int(chat["id"]), params)
        message = self._new_message(chat, self.bot_user, from_bot=True, reply_to=reply_to)
        message.parse_mode = params.get("parse_mode")
        return message

    def _apply_edit(self, message: ChatMessage, method: str) -> dict[str, Any]:
        message.edit_count += 1
        message.edit_date = int(time.time())
        message.edits.append(
            Edit(time.monotonic(), method, message.text, message.caption, message.reply_markup)
        )
        self._changed.notify()
        return message.to_dict()

    @staticmethod
    def _scope_key(scope: dict[str, Any] | None, language_code: str | None) -> tuple[str, str]:
        scope = scope or {"type": "default"}
        return json.dumps(scope, sort_keys=True), language_code or ""

    # --- the methods ----------------------------------------------------------------------------

    def _harmless(self, params: dict[str, Any]) -> bool:
        return True

    def _get_me(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook["url"]:
            raise TelegramApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        if params.get("allowed_updates") is not None:
            self._allowed_updates = list(params["allowed_updates"])
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        # A newer getUpdates ends an older one, as Telegram does with two bot instances.
        self._poll_generation += 1
        generation = self._poll_generation
        self._updates_signal.notify()
        deadline = time.monotonic() + timeout
        while True:
            if generation != self._poll_generation:
                raise TelegramApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            ready = self._deliverable()
            remaining = deadline - time.monotonic()
            if ready or self._closing or remaining <= 0:
                return [] if self._closing else ready[:limit]
            await self._updates_signal.wait(remaining)

    def _deliverable(self) -> list[dict[str, Any]]:
        """Return pending updates of allowed types, forgetting the others like Telegram does."""
        allowed = set(self._allowed_updates)

        def wanted(update: dict[str, Any]) -> bool:
            kind = next(k for k in update if k != "update_id")
            return kind in allowed if allowed else kind not in _OPT_IN_UPDATES

        self._updates = [u for u in self._updates if wanted(u)]
        return list(self._updates)

    def _delete_webhook(self, params: dict[str, Any]) -> bool:
        self.webhook = {"url": ""}
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _set_webhook(self, params: dict[str, Any]) -> bool:
        url = params.get("url") or ""
        if not url:
            return self._delete_webhook(params)
        host = urlsplit(url).hostname or ""
        loopback = host in _LOOPBACK_HOSTS
        # Telegram insists on HTTPS; a loopback URL is allowed so tests can run PTB's webhook.
        if not url.startswith("https://") and not loopback:
            raise _bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        if params.get("drop_pending_updates"):
            self._updates.clear()
        if params.get("allowed_updates") is not None:
            self._allowed_updates = list(params["allowed_updates"])
        self.webhook = {
            "url": url,
            "secret_token": params.get("secret_token"),
            "max_connections": params.get("max_connections", 40),
            "allowed_updates": params.get("allowed_updates"),
            "ip_address": params.get("ip_address"),
        }
        if loopback and (self._webhook_task is None or self._webhook_task.done()):
            self._webhook_task = asyncio.create_task(self._deliver_webhook())
        return True

    async def _deliver_webhook(self) -> None:
        """Post pending updates to a loopback webhook in order, retrying until it answers 2xx."""
        async with aiohttp.ClientSession() as session:
            while not self._closing and self.webhook["url"]:
                ready = self._deliverable()
                url = self.webhook["url"]
                if not ready or (urlsplit(url).hostname or "") not in _LOOPBACK_HOSTS:
                    await self._updates_signal.wait(1.0)
                    continue
                update = ready[0]
                secret = self.webhook.get("secret_token")
                headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
                status: int | None = None
                error = ""
                try:
                    async with session.post(
                        url, json=update, headers=headers, timeout=aiohttp.ClientTimeout(total=10)
                    ) as response:
                        status = response.status
                except (aiohttp.ClientError, TimeoutError) as exc:
                    error = repr(exc)
                self.webhook_deliveries.append(
                    {"update_id": update["update_id"], "status": status, "error": error}
                )
                if status is not None and 200 <= status < 300:
                    self._updates = [u for u in self._updates if u is not update]
                    continue
                self.webhook["last_error_date"] = int(time.time())
                self.webhook["last_error_message"] = error or f"Wrong response: {status}"
                await asyncio.sleep(0.2)

    def _get_webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook["url"],
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        for key in (
            "max_connections",
            "allowed_updates",
            "ip_address",
            "last_error_date",
            "last_error_message",
        ):
            if self.webhook.get(key) is not None:
                info[key] = self.webhook[key]
        return info

    def _set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad_request("commands is not a list")
        for command in commands:
            if not _BOT_COMMAND_NAME_RE.fullmatch(str(command.get("command", ""))):
                raise _bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(command.get("description", "")) <= 256:
                raise _bad_request("command description is empty or too long")
        key = self._scope_key(params.get("scope"), params.get("language_code"))
        self._commands[key] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    def _get_my_commands(self, params: dict[str, Any]) -> list[dict[str, str]]:
        return self.commands_for(params.get("scope"), params.get("language_code") or "")

    def _delete_my_commands(self, params: dict[str, Any]) -> bool:
        self._commands.pop(self._scope_key(params.get("scope"), params.get("language_code")), None)
        return True

    def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _bad_request("message text is empty")
        plain, entities = format_text(text, params.get("parse_mode"), params.get("entities"))
        if not plain.strip():
            raise _bad_request("message text is empty")
        if len(plain) > MAX_TEXT_LENGTH:
            raise _bad_request("message is too long")
        markup = self._markup(params)
        message = self._new_bot_message(params)
        message.text, message.entities, message.reply_markup = plain, entities, markup
        self._record(message)
        return message.to_dict()

    def _send_photo(self, params: dict[str, Any]) -> dict[str, Any]:
        self._chat(params)
        caption, caption_entities = self._caption(params)
        markup = self._markup(params)
        stored, _ = self._input_file(params, "photo")
        width, height = _image_size(stored.data)
        thumb_w, thumb_h = _scaled(width, height, 90)
        full_w, full_h = _scaled(width, height, 1280)
        message = self._new_bot_message(params)
        message.photo = [
            {"file_id": f"{stored.file_id}s", "file_unique_id": f"{stored.file_unique_id}s",
             "width": thumb_w, "height": thumb_h, "file_size": max(1, stored.size // 20)},
            {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
             "width": full_w, "height": full_h, "file_size": stored.size},
        ]  # fmt: skip
        message.photo_bytes = stored.data
        message.caption, message.caption_entities = caption, caption_entities
        message.reply_markup = markup
        self._record(message)
        return message.to_dict()

    def _send_document(self, params: dict[str, Any]) -> dict[str, Any]:
        self._chat(params)
        caption, caption_entities = self._caption(params)
        markup = self._markup(params)
        stored, upload = self._input_file(params, "document")
        message = self._new_bot_message(params)
        name = upload.filename if upload else stored.file_path.rsplit("/", 1)[-1]
        message.document = {
            "file_name": name,
            "mime_type": (upload.content_type if upload else None) or "application/octet-stream",
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
        }
        message.document_bytes = stored.data
        message.caption, message.caption_entities = caption, caption_entities
        message.reply_markup = markup
        self._record(message)
        return message.to_dict()

    def _edit_message_text(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._editable(params, missing="message to edit not found")
        if message.text is None:
            raise _bad_request("there is no text in the message to edit")
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _bad_request("message text is empty")
        plain, entities = format_text(text, params.get("parse_mode"), params.get("entities"))
        if len(plain) > MAX_TEXT_LENGTH:
            raise _bad_request("message is too long")
        # Leaving reply_markup out removes the keyboard, exactly as on Telegram.
        markup = self._markup(params, inline_only=True)
        if (plain, entities, markup) == (message.text, message.entities, message.reply_markup):
            raise TelegramApiError(400, NOT_MODIFIED)
        message.text, message.entities, message.reply_markup = plain, entities, markup
        message.parse_mode = params.get("parse_mode")
        return self._apply_edit(message, "editMessageText")

    def _edit_message_caption(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._editable(params, missing="message to edit not found")
        if message.kind == "text":
            raise _bad_request("there is no caption in the message to edit")
        caption, entities = self._caption(params)
        markup = self._markup(params, inline_only=True)
        current = (message.caption, message.caption_entities, message.reply_markup)
        if (caption, entities, markup) == current:
            raise TelegramApiError(400, NOT_MODIFIED)
        message.caption, message.caption_entities, message.reply_markup = caption, entities, markup
        return self._apply_edit(message, "editMessageCaption")

    def _edit_message_reply_markup(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._editable(params, missing="message to edit not found")
        markup = self._markup(params, inline_only=True)
        if markup == message.reply_markup:
            raise TelegramApiError(400, NOT_MODIFIED)
        message.reply_markup = markup
        return self._apply_edit(message, "editMessageReplyMarkup")

    def _delete_message(self, params: dict[str, Any]) -> bool:
        chat = self._chat(params)
        message = self._by_id.get((int(chat["id"]), self._message_id(params)))
        if message is None or message.deleted:
            raise _bad_request("message to delete not found")
        message.deleted = True
        self._changed.notify()
        return True

    def _send_chat_action(self, params: dict[str, Any]) -> bool:
        self._chat(params)
        if params.get("action") not in _CHAT_ACTIONS:
            raise _bad_request("wrong parameter action in request")
        return True

    def _get_file(self, params: dict[str, Any]) -> dict[str, Any]:
        stored = self._files.get(str(params.get("file_id") or ""))
        if stored is None:
            raise _bad_request("invalid file_id")
        if stored.size > MAX_GET_FILE_SIZE:
            raise _bad_request("file is too big")
        stored.path_issued = True
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            "file_path": stored.file_path,
        }

    def _get_chat(self, params: dict[str, Any]) -> dict[str, Any]:
        return {**self._chat(params), "accent_color_id": 0, "max_reaction_count": 11}

    def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if query_id not in self._pending_callbacks:
            raise _bad_request(_QUERY_INVALID)
        self._pending_callbacks.discard(query_id)
        self.answered_callbacks.append({
            "callback_query_id": query_id,
            "text": params.get("text"),
            "show_alert": bool(params.get("show_alert", False)),
            "url": params.get("url"),
            "cache_time": params.get("cache_time"),
        })  # fmt: skip
        return True
