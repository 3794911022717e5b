"""The delivery loop: sends what the worker left in the outbox and keeps progress messages current.

Each outbox row is one Telegram message, marked delivered once Telegram accepted it, so a
restart neither loses nor repeats a reply (a crash in the instant between Telegram's answer and
the mark would repeat one: delivery is at least once, and that window is the only gap).

Chats are served in parallel, each by at most one task, so one chat's messages go out in order
and a chat that must wait (429, network trouble) holds back only its own later messages. Across
bot processes on one database, a chat is served by the one holding its delivery lease
(storage.outbox.Outbox.due), so a double deploy sends each reply once too.

Every retry is bounded: after `TRAINBOT_DELIVERY_ATTEMPTS` failed tries (at once for what no
retry can fix: a file over Telegram's limits, a message it refuses) the chat is told in one
sentence what it will not get, and its next message goes out. A message whose HTML Telegram
cannot parse is sent again as plain text rather than dropped.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import os
import socket
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from telegram import Bot
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bot import progress, sending, texts
from storage.chats import migrate_chat
from storage.store import Store
from storage.views import OutboxItem, ProgressChange
from trainbot.settings import Settings

log = logging.getLogger(__name__)

# A held chat waits this much past its due time for its message to show up as pending again,
# so that a clock difference with the database never lets a later message overtake it.
HOLD_GRACE_SECONDS = 5.0
# How long stop() lets messages already in flight finish, so they are marked delivered.
STOP_TIMEOUT_SECONDS = 10.0
# A chat's delivery lease: renewed while this process reads the outbox (every poll interval
# at least), it runs out only when the process is gone or stuck, and then another takes over.
LEASE_SECONDS = 60.0

# Called with (old chat id, new chat id) once a chat's rows have moved to its new id.
OnMigrated = Callable[[int, int], Awaitable[None] | None]


class _Edit(enum.Enum):
    UNCHANGED = "unchanged"
    EDITED = "edited"
    HELD = "held"


@dataclass
class _Hold:
    """A chat that must wait until `until`; `outbox_id` is the message that has to go first."""

    until: float
    outbox_id: int | None = None


@dataclass
class _ChatWork:
    jobs: list[ProgressChange] = field(default_factory=list)
    messages: list[OutboxItem] = field(default_factory=list)


class Delivery:
    """Reads the outbox and progress changes from storage and brings them to the chats."""

    def __init__(
        self, bot: Bot, store: Store, settings: Settings, *, on_migrated: OnMigrated | None = None
    ) -> None:
        self.bot = bot
        self.store = store
        self.poll_interval = settings.poll_interval
        self.progress_interval = settings.progress_interval
        self.max_attempts = settings.delivery_attempts
        self.on_migrated = on_migrated
        # Who holds this process's delivery leases: unique per start, like a worker's name.
        self.owner = f"bot-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.lease_seconds = max(LEASE_SECONDS, 4 * self.poll_interval)
        # The outbox's wake-up generation at the last read: news after it ends the next sleep.
        self._seen: int | None = None
        # When the last round read storage successfully (time.monotonic()); the health check.
        self.last_round: float | None = None
        # Failed progress edits per job: bounded like messages, then that state is skipped.
        self._edit_failures: dict[int, int] = {}
        self._busy: dict[int, asyncio.Task[None]] = {}
        self._holds: dict[int, _Hold] = {}
        self._last_edit: dict[int, float] = {}
        self._job_edited: dict[int, float] = {}
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Storage's wait blocks a thread; its own thread keeps it from starving handlers' calls.
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="outbox-wait")
        self._waiter: asyncio.Future[bool] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="delivery")

    async def stop(self) -> None:
        """Stop reading the outbox and let the sends already in flight finish (and be marked)."""
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            await self._task
        busy = list(self._busy.values())
        if busy:
            _, late = await asyncio.wait(busy, timeout=STOP_TIMEOUT_SECONDS)
            for task in late:
                task.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)
        try:
            await asyncio.to_thread(self.store.outbox.release, self.owner)
        except Exception as error:  # the database is away: the leases run out on their own
            log.warning("could not hand back the delivery leases: %s", error)

    # -- the loop ----------------------------------------------------------------------------

    async def _run(self) -> None:
        log.info("delivery loop started")
        failures = 0
        while not self._stopping.is_set():
            try:
                due_in = await self.tick()
                failures = 0
                self.last_round = time.monotonic()
            except Exception as error:
                # Most likely the database is away: back off rather than log a storm.
                failures += 1
                due_in = sending.backoff_seconds(failures)
                log.warning(
                    "delivery round failed (%s); next try in %.0f s", error, due_in,
                    exc_info=failures == 1,
                )  # fmt: skip
            await self._sleep(due_in)
        log.info("delivery loop stopped")

    async def tick(self) -> float | None:
        """Start a task for each chat with something to do; seconds until a held chat is due."""
        self._wake.clear()
        # A chat busy now may finish while storage is read: what is read for it is stale (it
        # may list a message just delivered), so it waits for the next round, which its end
        # triggers at once.
        busy = set(self._busy)
        messages, jobs = await asyncio.to_thread(self._read)
        work: dict[int, _ChatWork] = defaultdict(_ChatWork)
        for message in messages:
            work[message.chat_id].messages.append(message)
        for change in jobs:
            work[change.job.chat_id].jobs.append(change)
        now = time.monotonic()
        due: list[float] = []
        for chat_id, chat_work in work.items():
            if chat_id in busy or chat_id in self._busy or self._stopping.is_set():
                continue
            wait = self._held_for(chat_id, chat_work, now)
            if wait > 0:
                due.append(wait)
                continue
            next_edit = self._last_edit.get(chat_id, -math.inf) + self.progress_interval - now
            if chat_work.jobs and next_edit > 0:
                # At most one edit per progress_interval per chat; the change waits its turn.
                due.append(next_edit)
                chat_work.jobs = []
            if chat_work.jobs or chat_work.messages:
                self._busy[chat_id] = asyncio.create_task(
                    self._serve(chat_id, chat_work), name=f"delivery-{chat_id}"
                )
        return min(due) if due else None

    def _read(self) -> tuple[list[OutboxItem], list[ProgressChange]]:
        # The look comes first: whatever is written while this reads wakes the next sleep.
        self._seen = self.store.outbox.look()
        return self.store.outbox.due(self.owner, self.lease_seconds)

    def _held_for(self, chat_id: int, work: _ChatWork, now: float) -> float:
        """Seconds this chat must still wait (0: go)."""
        hold = self._holds.get(chat_id)
        if hold is None:
            return 0.0
        first_due = hold.outbox_id is not None and any(
            m.id == hold.outbox_id for m in work.messages
        )
        grace = HOLD_GRACE_SECONDS if hold.outbox_id is not None else 0.0
        if not first_due and now < hold.until + grace:
            return max(hold.until - now, self.poll_interval)
        del self._holds[chat_id]
        return 0.0

    async def _sleep(self, due_in: float | None) -> None:
        """Until the outbox has news, a chat finished its turn, a held chat is due, or stop."""
        if self._stopping.is_set():
            return
        if self._waiter is None or self._waiter.done():
            self._waiter = asyncio.get_running_loop().run_in_executor(
                self._executor, self.store.outbox.wait, self.poll_interval, self._seen
            )
            self._waiter.add_done_callback(_log_failure)
        wake = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait(
                {self._waiter, wake}, timeout=due_in, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            wake.cancel()

    # -- one chat ----------------------------------------------------------------------------

    async def _serve(self, chat_id: int, work: _ChatWork) -> None:
        # One edit per turn goes to the job that matters most: a final state first, then the
        # job left waiting longest, so a busy training cannot starve its neighbours' messages.
        changes = sorted(
            work.jobs, key=lambda c: (not c.job.finished, self._job_edited.get(c.job.id, 0.0))
        )
        try:
            for change in changes:
                outcome = await self._show_progress(change)
                if outcome is _Edit.HELD:
                    return
                if outcome is _Edit.EDITED:
                    break
            for message in work.messages:
                # Stopping lets the send in flight finish; the next ones wait for the next run.
                if self._stopping.is_set() or not await self._deliver(message):
                    return
        except Exception:
            log.exception("delivering to chat %s failed", chat_id, extra={"chat_id": chat_id})
            self._holds[chat_id] = _Hold(time.monotonic() + sending.RETRY_BASE_SECONDS)
        finally:
            self._busy.pop(chat_id, None)
            self._wake.set()

    async def _show_progress(self, change: ProgressChange) -> _Edit:
        """Bring the job's progress message up to date with one edit (or none if unchanged)."""
        job = change.job
        text = progress.render(job)
        if text != change.shown_text:
            try:
                await self.bot.edit_message_text(
                    text, chat_id=job.chat_id, message_id=change.message_id
                )
            except ChatMigrated as error:
                await self._follow(job.chat_id, error.new_chat_id)
                return _Edit.HELD
            except BadRequest as error:
                # "Not modified" means the message already says this: as good as an edit.
                # Anything else (the message was deleted, is too old) will not get better.
                if "not modified" not in error.message.lower():
                    log.info("progress of job %s not shown: %s", job.id, error.message)
            except Forbidden as error:
                log.info("progress of job %s not shown: %s", job.id, error.message)
            except TelegramError as error:
                failures = self._edit_failures.get(job.id, 0) + 1
                if failures < self.max_attempts:
                    self._edit_failures[job.id] = failures
                    delay = (
                        sending.retry_after_seconds(error)
                        if isinstance(error, RetryAfter)
                        else sending.backoff_seconds(failures)
                    )
                    log.warning(
                        "editing progress of job %s failed (%s); retrying in %.0f s",
                        job.id, error, delay,
                    )  # fmt: skip
                    self._holds[job.chat_id] = _Hold(time.monotonic() + delay)
                    return _Edit.HELD
                # A progress message is a courtesy: after the last try this state is skipped
                # (the next one is tried afresh) and the chat's messages go on.
                log.warning("giving up on showing job %s's progress: %s", job.id, error)
            self._edit_failures.pop(job.id, None)
            self._last_edit[job.chat_id] = self._job_edited[job.id] = time.monotonic()
        await asyncio.to_thread(self.store.outbox.mark_progress_shown, job.id, job.revision, text)
        if job.finished:
            self._job_edited.pop(job.id, None)
        return _Edit.UNCHANGED if text == change.shown_text else _Edit.EDITED

    async def _deliver(self, message: OutboxItem) -> bool:
        """Send one outbox message; False when it must wait, and the chat's later ones too."""
        extra = {"chat_id": message.chat_id, "job_id": message.job_id}
        outbox = self.store.outbox
        try:
            telegram_id = await sending.send(self.bot, self.store, message)
        except ChatMigrated as error:
            # The group is a supergroup now: its rows (this message too) move to the new id,
            # and the next round delivers them there.
            await self._follow(message.chat_id, error.new_chat_id)
            return False
        except Forbidden as error:
            # The bot was blocked or removed from the chat: nobody is left to tell.
            log.warning("giving up on outbox message %s: %s", message.id, error, extra=extra)
            await asyncio.to_thread(outbox.give_up, message.id, str(error))
            return True
        except (BadRequest, sending.Undeliverable) as error:
            # Telegram refuses the message itself, or its file is gone or too large: retrying
            # cannot help, and the chat's later messages must not wait behind it.
            await self._give_up(message, error)
            return True
        except RetryAfter as error:
            delay, reason = sending.retry_after_seconds(error), str(error)
        except NetworkError as error:
            if sending.too_large(error):
                # 413: Telegram takes no upload this big, however often it is sent.
                await self._give_up(message, error)
                return True
            # Network trouble, timeouts and Telegram's 5xx. A timed-out send may have arrived;
            # sending it again risks a duplicate, which beats losing a result.
            delay, reason = sending.backoff_seconds(message.attempts + 1), str(error)
        except TelegramError as error:
            delay, reason = sending.backoff_seconds(message.attempts + 1), str(error)
        else:
            await asyncio.to_thread(outbox.mark_delivered, message.id, telegram_id)
            return True
        if message.attempts + 1 >= self.max_attempts:
            await self._give_up(message, reason)
            return True
        log.warning(
            "outbox message %s failed (%s); try %d of %d in %.0f s",
            message.id, reason, message.attempts + 2, self.max_attempts, delay, extra=extra,
        )  # fmt: skip
        await asyncio.to_thread(outbox.retry_later, message.id, reason, delay)
        self._holds[message.chat_id] = _Hold(time.monotonic() + delay, message.id)
        return False

    async def _give_up(self, message: OutboxItem, error: Exception | str) -> None:
        """Stop trying `message`, and tell its chat in one sentence what it will not get."""
        extra = {"chat_id": message.chat_id, "job_id": message.job_id}
        log.warning("giving up on outbox message %s: %s", message.id, error, extra=extra)
        await asyncio.to_thread(self.store.outbox.give_up, message.id, str(error))
        too_large = getattr(error, "too_large", False) or (
            isinstance(error, NetworkError) and sending.too_large(error)
        )
        notice = texts.not_delivered(message.kind, message.job_id, too_large=too_large)
        try:
            # One try: the notice is a courtesy, and the chat's next message is waiting.
            await self.bot.send_message(
                message.chat_id,
                notice,
                reply_parameters=sending.reply_to(message.reply_to_message_id),
            )
        except TelegramError as failure:
            log.warning("could not tell chat %s: %s", message.chat_id, failure, extra=extra)

    async def _follow(self, old_chat_id: int, new_chat_id: int) -> None:
        """Move a migrated chat's rows to its new id (and let the application follow too)."""
        moved = await asyncio.to_thread(migrate_chat, self.store.db, old_chat_id, new_chat_id)
        log.info(
            "chat %s is now %s: moved %s", old_chat_id, new_chat_id, moved,
            extra={"chat_id": new_chat_id},
        )  # fmt: skip
        self._holds.pop(old_chat_id, None)
        if self.on_migrated is not None:
            outcome = self.on_migrated(old_chat_id, new_chat_id)
            if outcome is not None:
                await outcome


def _log_failure(future: asyncio.Future[bool]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("waiting for outbox news failed: %s", future.exception())
