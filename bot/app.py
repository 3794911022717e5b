"""Building and running the bot: the Application, the table of its handlers, the delivery loop.

`build_application(settings, store)` makes the Application; `run(settings)` runs it with long
polling (or a webhook when TRAINBOT_WEBHOOK_URL is set) until SIGINT or SIGTERM.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import re
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

from telegram import BotCommand, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import access, errors, health, offers, texts
from bot.context import PARSE_POOL, SETTINGS, STORE, BotApplication, BotContext
from bot.delivery import Delivery
from bot.flood import PerChatRateLimiter
from bot.handlers import chats, general, jobs, models, predict, train
from bot.parse_pool import ParsePool
from bot.pruning import Pruner
from bot.ratelimit import ChatRateLimit, limited
from bot.updates import PerChatUpdateProcessor
from storage.retention import Retention
from storage.store import Store
from trainbot.settings import ConfigError, Settings

log = logging.getLogger(__name__)

# Seconds. Uploads of photos and model files get longer than plain calls; the long poll's
# read timeout is LONG_POLL_SECONDS plus get_updates_read_timeout (PTB adds them up).
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 15.0
WRITE_TIMEOUT = 15.0
MEDIA_WRITE_TIMEOUT = 60.0
POOL_TIMEOUT = 5.0
LONG_POLL_SECONDS = 10.0
# 429s retried by the rate limiter, each after the retry_after Telegram asked of that chat.
RATE_LIMIT_RETRIES = 3
MAX_CONCURRENT_UPDATES = 32
# Edited messages too: a /predict fixed by editing it deserves an answer, not silence.
ALLOWED_UPDATES = [Update.MESSAGE, Update.EDITED_MESSAGE, Update.CALLBACK_QUERY]
DELIVERY = "delivery"
HEARTBEAT = "heartbeat"
PRUNER = "pruner"


def build_application(settings: Settings, store: Store) -> BotApplication:
    """The bot, pointed at the configured Bot API server, with every handler registered."""
    application = (
        Application.builder()
        .token(settings.require_token())
        .base_url(settings.telegram_api_base_url)
        .base_file_url(settings.telegram_api_file_url)
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                do_quote=True,
                allow_sending_without_reply=True,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        .rate_limiter(PerChatRateLimiter(max_retries=RATE_LIMIT_RETRIES))
        .concurrent_updates(PerChatUpdateProcessor(MAX_CONCURRENT_UPDATES))
        .context_types(ContextTypes(context=BotContext))
        .job_queue(None)
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .write_timeout(WRITE_TIMEOUT)
        .media_write_timeout(MEDIA_WRITE_TIMEOUT)
        .pool_timeout(POOL_TIMEOUT)
        .get_updates_connect_timeout(CONNECT_TIMEOUT)
        .get_updates_read_timeout(READ_TIMEOUT)
        .get_updates_write_timeout(WRITE_TIMEOUT)
        .get_updates_pool_timeout(POOL_TIMEOUT)
        .post_init(_post_init)
        .post_stop(_post_stop)
        .build()
    )
    application.bot_data[SETTINGS] = settings
    application.bot_data[STORE] = store
    application.bot_data[PARSE_POOL] = ParsePool.from_settings(settings)
    add_handlers(application)
    return application


def add_handlers(application: BotApplication) -> None:
    """What the bot does, as a table: the first handler that matches an update takes it."""

    # Commands are answered when edited too (CommandHandler takes both); a file, a photo and
    # chatter only when new: editing a file's caption must not train it twice.
    new = filters.UpdateType.MESSAGE

    def caption(command: str) -> filters.BaseFilter:
        # CommandHandler reads only message text; a command in a file's caption needs this.
        pattern = re.compile(rf"^/{command}(@\w+)?(\s|$)", re.IGNORECASE)
        return new & filters.Document.ALL & filters.CaptionRegex(pattern)

    settings: Settings = application.bot_data[SETTINGS]
    # One limit for every way of asking for predictions: command, CSV caption, button.
    predict_limit = ChatRateLimit(settings.predict_limit, settings.predict_window_seconds)

    # Before the gate: an upgrade notice comes from Telegram, and the chat's data must follow
    # even when the new id is not (yet) on an allowlist.
    application.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, chats.migrated), group=-2)
    application.add_handler(TypeHandler(Update, access.gate), group=-1)
    application.add_handlers(
        [
            CommandHandler("start", general.start),
            CommandHandler("help", general.help_command),
            CommandHandler("train", train.train_command),
            MessageHandler(caption("train"), train.train_caption),
            CallbackQueryHandler(train.train_button, pattern=f"^{offers.TRAIN}$"),
            CommandHandler("predict", limited(predict.predict_command, predict_limit)),
            MessageHandler(caption("predict"), limited(predict.predict_caption, predict_limit)),
            CallbackQueryHandler(
                limited(predict.predict_button, predict_limit), pattern=f"^{offers.PREDICT}$"
            ),
            MessageHandler(new & filters.Document.ALL, train.document_without_command),
            MessageHandler(new & filters.PHOTO, general.photo),
            CommandHandler("status", jobs.status),
            CommandHandler("jobs", jobs.jobs),
            CommandHandler("cancel", jobs.cancel),
            CommandHandler("models", models.models),
            CommandHandler("use", models.use),
            CommandHandler("delete", models.delete),
            CommandHandler("download", models.download),
            MessageHandler(filters.COMMAND, general.unknown_command),
            MessageHandler(new & filters.TEXT & filters.ChatType.PRIVATE, general.chatter),
        ]
    )
    application.add_error_handler(errors.on_error)


async def _post_init(application: BotApplication) -> None:
    """Publish the command menu, start delivering the outbox, beating the heartbeat and pruning
    old rows; warn when the bot is open to anyone."""
    access.warn_if_open(application.bot_data[SETTINGS])
    commands = [BotCommand(name, text) for name, text in texts.COMMANDS.items()]
    try:
        await application.bot.set_my_commands(commands)
    except TelegramError as error:
        # The menu is a convenience: a bot that cannot set it should still serve.
        log.warning("could not set the command menu: %s", error)
    settings: Settings = application.bot_data[SETTINGS]
    application.bot_data[PARSE_POOL].warm()

    async def migrated(old: int, new: int) -> None:
        chats.move_chat_data(application, old, new)

    delivery = Delivery(
        application.bot, application.bot_data[STORE], settings, on_migrated=migrated
    )
    delivery.start()
    application.bot_data[DELIVERY] = delivery
    heartbeat = health.Heartbeat(settings.heartbeat_file, lambda: _serving(application, delivery))
    heartbeat.start()
    application.bot_data[HEARTBEAT] = heartbeat
    if settings.prune_interval:
        pruner = Pruner(
            application.bot_data[STORE],
            Retention.from_settings(settings),
            settings.prune_interval,
        )
        pruner.start()
        application.bot_data[PRUNER] = pruner


def _serving(application: BotApplication, delivery: Delivery) -> bool:
    """Updates are received (polling or webhook) and delivery read storage lately."""
    updater = application.updater
    last_round = delivery.last_round
    return (
        application.running
        and updater is not None
        and updater.running
        and last_round is not None
        and time.monotonic() - last_round < health.STALE_SECONDS
    )


async def _post_stop(application: BotApplication) -> None:
    """Stop delivering, while the bot can still finish the sends in flight (and mark them)."""
    pruner: Pruner | None = application.bot_data.pop(PRUNER, None)
    if pruner is not None:
        await pruner.stop()
    heartbeat: health.Heartbeat | None = application.bot_data.pop(HEARTBEAT, None)
    if heartbeat is not None:
        await heartbeat.stop()
    delivery: Delivery | None = application.bot_data.pop(DELIVERY, None)
    if delivery is not None:
        await delivery.stop()


def run(settings: Settings) -> None:
    """Serve until SIGINT or SIGTERM: long polling, or a webhook when one is configured."""
    _fewer_malloc_arenas()
    # httpx logs every request at INFO: one line per long poll drowns everything else.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # Opt in to what PTB 23 does anyway (RetryAfter.retry_after as a timedelta); otherwise
    # every 429 also logs a deprecation warning. bot.sending reads either type.
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    store = Store.from_settings(settings)
    try:
        application = build_application(settings, store)
        if settings.webhook_url:
            log.info("receiving updates through the webhook %s", settings.webhook_url)
            application.run_webhook(**webhook_options(settings))
        else:
            log.info("receiving updates by long polling")
            application.run_polling(timeout=LONG_POLL_SECONDS, allowed_updates=ALLOWED_UPDATES)
    finally:
        store.close()


def webhook_options(settings: Settings) -> dict[str, Any]:
    """Where PTB's web server listens and what it tells Telegram (set_webhook).

    The secret goes to setWebhook as secret_token; Telegram sends it in a header with every
    update, and PTB's server answers 403 to a request without it, so a forger who finds the
    port cannot act as an allowed user. Settings.from_env makes one when none is configured.
    """
    if not settings.webhook_secret:
        raise ConfigError(["webhook mode needs a secret: set TRAINBOT_WEBHOOK_SECRET"])
    return {
        "listen": settings.webhook_listen,
        "port": settings.webhook_port,
        "url_path": urlsplit(settings.webhook_url or "").path.lstrip("/"),
        "webhook_url": settings.webhook_url,
        "secret_token": settings.webhook_secret,
        "allowed_updates": ALLOWED_UPDATES,
    }


@contextlib.asynccontextmanager
async def running(
    application: BotApplication, *, poll_timeout: float = LONG_POLL_SECONDS
) -> AsyncIterator[BotApplication]:
    """Serve inside an event loop that is already running (tests, benchmarks, embedding).

    The same steps, in the same order, as `Application.run_polling` / `run_webhook`, which
    insist on owning the loop: initialize, post_init, receive updates, start ... stop,
    post_stop, shutdown. A webhook when the settings name one, else long polling.
    """
    updater = application.updater
    if updater is None:
        raise RuntimeError("the application has no updater")
    settings: Settings = application.bot_data[SETTINGS]

    def polling_failed(error: TelegramError) -> None:
        application.create_task(application.process_error(update=None, error=error))

    await application.initialize()
    try:
        if application.post_init is not None:
            await application.post_init(application)
        try:
            if settings.webhook_url:
                await updater.start_webhook(**webhook_options(settings))
            else:
                await updater.start_polling(
                    timeout=poll_timeout,
                    allowed_updates=ALLOWED_UPDATES,
                    error_callback=polling_failed,
                )
            await application.start()
            yield application
        finally:
            if updater.running:
                await updater.stop()
            if application.running:
                await application.stop()
            if application.post_stop is not None:
                await application.post_stop(application)
    finally:
        await application.shutdown()


# glibc's mallopt parameter for the most heap arenas.
_M_ARENA_MAX = -8


def _fewer_malloc_arenas() -> None:
    """Cap glibc's heap arenas at 2: by default each thread that allocates (delivery, the
    database pool, PTB's) gets one of its own, and the memory they keep pushed the bot's peak
    RSS past 150 MB on PostgreSQL. Elsewhere than glibc this does nothing."""
    name = ctypes.util.find_library("c")
    if name is None:
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(name).mallopt(_M_ARENA_MAX, 2)
