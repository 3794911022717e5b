"""The whole chat experience, end to end: the real Application talks HTTP to a fake Bot API
server, a real worker trains in a thread, and both share a real database (SQLite, PostgreSQL).

The tests play the user through FakeTelegram and assert on what arrives in the chat.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import tempfile
import threading
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.engine import make_url

from bot.app import build_application, running
from storage.models import Chat, JobStatus, Model
from storage.store import Store
from tests.badcsv import cases
from tests.conftest import reset_postgres
from tests.fake_telegram import ChatMessage, FakeTelegram
from tests.tcp_proxy import TcpProxy
from tests.waiting import until
from trainbot.settings import Settings
from trainer.learn.training import train
from trainer.model_file.keras_file import save_model_bytes
from trainer.params import TrainParams
from trainer.tables.dataset import Dataset
from trainer.worker.loop import Worker

# PTB 22 warns on every 429 that retry_after will become a timedelta; bot.app.run opts in.
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

CHAT = 4242
OTHER_CHAT = 5353
GROUP = -1001234567890
# Generous: the first training of a test session also pays for importing TensorFlow.
TRAINING_TIMEOUT = 120.0
QUICK = 15.0
SMALL_CSV = b"x,y\n" + b"".join(f"{i},{2 * i + 1}\n".encode() for i in range(40))


def settings_for(tg: FakeTelegram, database_url: str, **env: str) -> Settings:
    # Each bot's heartbeat in a file of its own, not in the working directory.
    heartbeat = Path(tempfile.gettempdir()) / f"trainbot-test-{uuid.uuid4().hex}.heartbeat"
    return Settings.from_env(
        {
            "TRAINBOT_HEARTBEAT_FILE": str(heartbeat),
            "TELEGRAM_BOT_TOKEN": tg.token,
            "TELEGRAM_API_BASE_URL": tg.base_url,
            "TELEGRAM_API_FILE_URL": tg.base_file_url,
            "DATABASE_URL": database_url,
            "TRAINBOT_PROGRESS_INTERVAL": "0.2",
            "TRAINBOT_POLL_INTERVAL": "0.1",
            "TRAINBOT_LEASE_SECONDS": "3",
            **env,
        },
        env_file=None,
    )


@contextlib.contextmanager
def worker_thread(store: Store, settings: Settings) -> Iterator[Worker]:
    worker = Worker(store, settings, name="test-worker")
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        stop.set()
        thread.join(60)


@contextlib.asynccontextmanager
async def bot_serving(store: Store, settings: Settings) -> AsyncIterator[None]:
    async with running(build_application(settings, store), poll_timeout=1):
        yield


@dataclass
class World:
    tg: FakeTelegram
    store: Store
    settings: Settings

    def bot_messages(self, chat_id: int) -> list[ChatMessage]:
        return self.tg.sent(chat_id)

    async def reply_to(
        self, message: dict, *, contains: str | None = None, within: float = QUICK
    ) -> ChatMessage:
        """The bot's answer to one user message."""
        chat_id = message["chat"]["id"]
        return await self.tg.wait_for(
            lambda m: m.reply_to is not None and m.reply_to.message_id == message["message_id"],
            within,
            chat_id=chat_id,
            contains=contains,
        )


@contextlib.asynccontextmanager
async def world_of(
    database_url: str, *, worker: bool = True, bot: bool = True, **env: str
) -> AsyncIterator[World]:
    """Fake Telegram and a database, with a worker thread and the bot running (by default)."""
    async with FakeTelegram() as tg:
        settings = settings_for(tg, database_url, **env)
        store = Store.open(database_url, lease_seconds=settings.lease_seconds)
        try:
            with worker_thread(store, settings) if worker else contextlib.nullcontext():
                if bot:
                    async with bot_serving(store, settings):
                        yield World(tg, store, settings)
                else:
                    yield World(tg, store, settings)
        finally:
            store.close()


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    """Fake Telegram, a database, a worker thread and the bot, all running."""
    async with world_of(database_url) as running_world:
        yield running_world


def job_id_in(message: ChatMessage) -> int:
    match = re.search(r"Job (\d+)", message.content)
    assert match, message.content
    return int(match.group(1))


def predicted(text: str, target: str = "y") -> list[float]:
    return [float(v) for v in re.findall(rf"{target} [=≈] (-?[\d.]+(?:e[-+]?\d+)?)", text)]


async def finished(world: World, chat_id: int, progress: ChatMessage, mark: str = "✅") -> None:
    """Wait until the progress message ends in its final state."""
    await world.tg.wait_for(
        lambda m: m.message_id == progress.message_id and m.content.startswith(mark),
        TRAINING_TIMEOUT,
        chat_id=chat_id,
    )


# -- the main story ------------------------------------------------------------------------


async def test_train_caption_then_predict(world: World, reference_csv: bytes) -> None:
    tg = world.tg
    upload = tg.send_document(CHAT, "fahrenheit.csv", reference_csv, caption="/train predict=200")

    ack = await world.reply_to(upload, contains="Job")
    assert "1,000 rows" in ack.content and "queued" in ack.content.lower()
    assert "y (a number) from x" in ack.content  # issue 20: the reply says the task
    job_id = job_id_in(ack)

    photo = await tg.wait_for(lambda m: m.kind == "photo", TRAINING_TIMEOUT, chat_id=CHAT)
    summary = await tg.wait_for(chat_id=CHAT, contains="is ready", timeout=QUICK)
    await finished(world, CHAT, ack)

    assert photo.photo_bytes and photo.photo_bytes.startswith(b"\x89PNG")
    assert photo.caption and "v1" in photo.caption and len(photo.caption) <= 1024
    assert photo.reply_to is not None and photo.reply_to.message_id == upload["message_id"]
    [value] = predicted(summary.content)
    assert abs(value - 93.33) <= 0.05, summary.content
    edits = tg.edits(CHAT, ack.message_id)
    assert edits and edits[-1].text and edits[-1].text.startswith(f"✅ Job {job_id}")
    assert len({e.text for e in edits}) == len(edits), "an edit repeated the text already shown"

    ask = tg.send_text(CHAT, "/predict 200")
    answer = await world.reply_to(ask, contains="→ y ")
    [again] = predicted(answer.content)
    assert abs(again - 93.33) <= 0.05

    ask = tg.send_text(CHAT, "/predict 1 2 3.5")
    answer = await world.reply_to(ask, contains="→ y ")
    assert len(predicted(answer.content)) == 3

    ask = tg.send_text(CHAT, "/models")
    assert "v1 (active)" in (await world.reply_to(ask)).content
    ask = tg.send_text(CHAT, "/download")
    model_file = await world.reply_to(ask)
    assert model_file.document_name == "model-v1.keras" and model_file.document_bytes
    ask = tg.send_text(CHAT, f"/status {job_id}")
    assert (await world.reply_to(ask)).content.startswith(f"✅ Job {job_id}")

    # Each reply of the worker arrived exactly once.
    kinds = Counter(m.kind for m in world.bot_messages(CHAT))
    assert kinds["photo"] == 1
    assert sum("is ready" in m.content for m in world.bot_messages(CHAT)) == 1


# -- every way of asking for training ------------------------------------------------------


async def test_train_as_a_reply_to_a_csv(world: World) -> None:
    upload = world.tg.send_document(CHAT, "line.csv", SMALL_CSV)
    offer = await world.reply_to(upload, contains="Shall I train")
    command = world.tg.send_text(CHAT, "/train epochs=3", reply_to_message_id=upload["message_id"])
    ack = await world.reply_to(command, contains="Job")
    assert "40 rows" in ack.content
    await finished(world, CHAT, ack)
    assert not world.tg.message(CHAT, offer.message_id).edits  # the offer was not used
    # Tapped now, the offer says the file trained already instead of training it again.
    world.tg.press_button(CHAT, offer.message_id, "train")
    await world.tg.wait_for_call(lambda call: call.method == "answerCallbackQuery", QUICK)
    [answered] = world.tg.answered_callbacks
    assert answered["text"] == (
        f"This file went to training already, as job {job_id_in(ack)}; /status {job_id_in(ack)} "
        "shows it."
    )
    assert world.store.queue.counts().succeeded == 1


async def test_train_first_then_the_file(world: World) -> None:
    command = world.tg.send_text(CHAT, "/train epochs=3 predict=7")
    await world.reply_to(command, contains="send me the CSV")
    upload = world.tg.send_document(CHAT, "line.csv", SMALL_CSV)
    ack = await world.reply_to(upload, contains="Job")
    await finished(world, CHAT, ack)
    summary = await world.tg.wait_for(chat_id=CHAT, contains="is ready")
    assert len(predicted(summary.content)) == 1  # the options of /train came along


async def test_a_csv_without_command_gets_a_button(world: World) -> None:
    upload = world.tg.send_document(CHAT, "line.csv", SMALL_CSV)
    offer = await world.reply_to(upload, contains="Shall I train")
    assert [b["callback_data"] for b in offer.buttons] == ["train"]  # no model yet to predict
    world.tg.press_button(CHAT, offer.message_id, "train")
    await world.tg.wait_for(
        lambda m: m.message_id == offer.message_id and "Job" in m.content and not m.buttons,
        QUICK,
        chat_id=CHAT,
    )
    await finished(world, CHAT, world.tg.message(CHAT, offer.message_id))
    assert world.tg.answered_callbacks, "the button press was not answered"

    # Now that the chat has a model, a file is offered for predictions too.
    inputs = world.tg.send_document(CHAT, "inputs.csv", b"x\n1\n2\n3\n")
    offer = await world.reply_to(inputs, contains="Shall I train")
    assert [b["callback_data"] for b in offer.buttons] == ["train", "predict"]
    world.tg.press_button(CHAT, offer.message_id, "predict")
    result = await world.tg.wait_for(
        lambda m: m.kind == "document" and m.document_name != "inputs.csv", QUICK, chat_id=CHAT
    )
    assert "3 rows" in (result.caption or "")
    await finished(world, CHAT, world.tg.message(CHAT, offer.message_id))


async def test_group_chats_address_the_bot_by_name(world: World) -> None:
    upload = world.tg.send_document(
        GROUP, "line.csv", SMALL_CSV, caption="/train@trainbot_test epochs=3"
    )
    ack = await world.reply_to(upload, contains="Job")
    await finished(world, GROUP, ack)
    ask = world.tg.send_text(GROUP, "/predict@trainbot_test 10")
    answer = await world.reply_to(ask, contains="→ y ")
    assert len(predicted(answer.content)) == 1
    # A command for another bot in the same group is none of ours.
    other = world.tg.send_document(GROUP, "line.csv", SMALL_CSV, caption="/train@otherbot")
    world.tg.send_text(GROUP, "/jobs@otherbot")
    marker = world.tg.send_text(GROUP, "/jobs@trainbot_test")
    await world.reply_to(marker, contains="Recent jobs")
    assert not [
        m
        for m in world.bot_messages(GROUP)
        if m.reply_to and m.reply_to.message_id in (other["message_id"], other["message_id"] + 1)
    ]


async def test_a_csv_with_the_caption_predict_gets_a_csv_back(world: World) -> None:
    upload = world.tg.send_document(CHAT, "line.csv", SMALL_CSV, caption="/train epochs=3")
    await finished(world, CHAT, await world.reply_to(upload, contains="Job"))
    inputs = world.tg.send_document(CHAT, "inputs.csv", b"x\n1\n2\n3\n", caption="/predict")
    ack = await world.reply_to(inputs, contains="Job")
    result = await world.tg.wait_for(
        lambda m: m.kind == "document" and m.document_name != "inputs.csv", QUICK, chat_id=CHAT
    )
    assert result.document_bytes and result.document_bytes.count(b"\n") >= 4
    assert "3 rows" in (result.caption or "")
    await finished(world, CHAT, ack)


# -- refusals ------------------------------------------------------------------------------


async def test_bad_files_and_bad_options_are_answered_at_once(world: World) -> None:
    tg = world.tg
    cases = [
        (tg.send_document(CHAT, "notes.csv", b"just some words\n", caption="/train"), "can't use"),
        (tg.send_document(CHAT, "t.csv", b"x,y\n1,a\n2,b\n3,c\n", caption="/train"), "can't use"),
        (tg.send_document(CHAT, "d.csv", SMALL_CSV, caption="/train epochs=0"), "epochs"),
        (tg.send_document(CHAT, "d.csv", SMALL_CSV, caption="/train wings=2"), "wings"),
        (tg.send_document(CHAT, "sheet.xlsx", b"PK\x03\x04", caption="/train"), "spreadsheet"),
        (tg.send_document(CHAT, "cat.png", b"\x89PNG", caption="/train", mime_type="image/png"),
         "tables from pictures"),
        (tg.send_document(CHAT, "notes.doc", b"\xd0\xcf", caption="/train"), "isn't a CSV"),
        (tg.send_text(CHAT, "/train epochs=lots"), "epochs"),
        (tg.send_text(CHAT, "/predict 200"), "no model yet"),
        (tg.send_text(CHAT, "/cancel soon"), "Which job?"),
        (tg.send_text(CHAT, "/use latest"), "Which model?"),
        (tg.send_text(CHAT, "/frobnicate"), "/help"),
    ]  # fmt: skip
    for message, expected in cases:
        answer = await world.reply_to(message)
        assert expected.lower() in answer.content.lower(), (expected, answer.content)
        assert "Traceback" not in answer.content
    assert world.store.queue.counts().queued == 0


async def test_an_oversize_file_is_refused_without_downloading_it(database_url: str) -> None:
    # Below Telegram's 20 MB (the default, tested in test_bot_quotas): both refusals differ.
    async with world_of(database_url, worker=False, TRAINBOT_MAX_UPLOAD_BYTES="1000000") as world:
        too_big_for_telegram = world.tg.send_document(
            CHAT, "huge.csv", SMALL_CSV, caption="/train", file_size=25 * 1024 * 1024
        )
        answer = await world.reply_to(too_big_for_telegram, contains="Telegram lets bots")
        assert "20.0 MB" in answer.content
        over_our_limit = world.tg.send_document(
            CHAT, "big.csv", SMALL_CSV, caption="/train", file_size=1_000_001
        )
        answer = await world.reply_to(over_our_limit, contains="the most I can take is 1.0 MB")
        assert "fewer rows" in answer.content
        assert not world.tg.calls_to("getFile") and not world.tg.downloads


async def test_the_quota_of_unfinished_jobs_is_kept(world: World, reference_csv: bytes) -> None:
    # The worker trains the first job for a long while; the rest wait in the queue.
    limit = world.settings.max_unfinished_jobs_per_chat
    for _ in range(limit):
        upload = world.tg.send_document(
            CHAT, "f.csv", reference_csv, caption="/train epochs=5000 preset=tutorial"
        )
        await world.reply_to(upload, contains="Job")
    refused = world.tg.send_document(CHAT, "f.csv", reference_csv, caption="/train")
    await world.reply_to(refused, contains="unfinished jobs")
    assert len(world.tg.downloads) == limit


# -- jobs ----------------------------------------------------------------------------------


async def test_status_jobs_and_cancel_on_a_running_and_a_queued_job(
    world: World, reference_csv: bytes
) -> None:
    tg = world.tg
    long = "/train epochs=5000 preset=tutorial"
    running_ack = await world.reply_to(
        tg.send_document(CHAT, "a.csv", reference_csv, caption=long), contains="Job"
    )
    queued_ack = await world.reply_to(
        tg.send_document(CHAT, "b.csv", reference_csv, caption=long), contains="Job"
    )
    running_id, queued_id = job_id_in(running_ack), job_id_in(queued_ack)
    # The progress message shows the training under way: a bar with epochs, loss and ETA.
    progress = await tg.wait_for(
        lambda m: m.message_id == running_ack.message_id and "▰" in m.content,
        TRAINING_TIMEOUT,
        chat_id=CHAT,
    )
    assert re.search(r"\d+/5000 epochs\nloss .* left", progress.content), progress.content

    status = await world.reply_to(tg.send_text(CHAT, f"/status {queued_id}"))
    assert "waiting" in status.content and "next in line" in status.content
    listing = (await world.reply_to(tg.send_text(CHAT, "/jobs"))).content
    assert f"{running_id} train · 🏋️ running" in listing
    assert f"{queued_id} train · ⏳ queued" in listing

    answer = await world.reply_to(tg.send_text(CHAT, f"/cancel {queued_id}"))
    assert f"cancelling job {queued_id}" in answer.content
    await finished(world, CHAT, queued_ack, mark="❌")
    answer = await world.reply_to(tg.send_text(CHAT, f"/cancel {running_id}"))
    assert f"stopping job {running_id}" in answer.content
    await finished(world, CHAT, running_ack, mark="❌")

    await tg.wait_for(chat_id=CHAT, contains=f"Job {running_id} is cancelled")
    await tg.wait_for(chat_id=CHAT, contains=f"Job {queued_id} is cancelled")
    for job_id in (running_id, queued_id):
        assert world.store.records.get_job(CHAT, job_id).status == JobStatus.CANCELLED
    again = await world.reply_to(tg.send_text(CHAT, f"/cancel {queued_id}"))
    assert "already finished" in again.content
    assert not [m for m in world.bot_messages(CHAT) if m.kind == "photo"]


async def test_two_chats_cannot_see_each_others_jobs_or_models(world: World) -> None:
    tg = world.tg
    ack = await world.reply_to(
        tg.send_document(CHAT, "mine.csv", SMALL_CSV, caption="/train epochs=3"), contains="Job"
    )
    await finished(world, CHAT, ack)
    job_id = job_id_in(ack)
    missing_job = job_id + 1000

    async def answer(text: str) -> str:
        return (await world.reply_to(tg.send_text(OTHER_CHAT, text))).content

    # Another chat's job and model read exactly like ones that do not exist.
    for command in ("/status", "/cancel"):
        theirs = await answer(f"{command} {job_id}")
        missing = await answer(f"{command} {missing_job}")
        assert theirs == missing.replace(str(missing_job), str(job_id))
    for command in ("/use", "/delete", "/download"):
        theirs = await answer(f"{command} v1")
        assert theirs == (await answer(f"{command} v999")).replace("v999", "v1")
    assert "no model yet" in await answer("/predict 200")
    assert "No models yet" in await answer("/models")
    assert "No jobs yet" in await answer("/jobs")
    # ... and the first chat still has both.
    assert world.store.records.active_model(CHAT) is not None
    assert world.store.records.get_job(CHAT, job_id) is not None


async def test_strangers_are_refused_politely(database_url: str) -> None:
    async with world_of(database_url, worker=False, TRAINBOT_ALLOWED_USERS="77") as world:
        tg = world.tg
        refused = await world.reply_to(tg.send_text(CHAT, "/start"))
        assert "private" in refused.content and str(CHAT) in refused.content
        upload = tg.send_document(CHAT, "a.csv", SMALL_CSV, caption="/train")
        assert "private" in (await world.reply_to(upload)).content
        welcome = await world.reply_to(tg.send_text(77, "/start"))
        assert "Hi!" in welcome.content
        assert not tg.calls_to("getFile")
        assert world.store.queue.counts().queued == 0


# -- Telegram misbehaving ------------------------------------------------------------------


async def test_429_and_500_answers_still_deliver_every_message_once(database_url: str) -> None:
    # The worker starts only once every fault is in place: a few epochs train in milliseconds,
    # and the plot could otherwise go out before its fault is armed.
    async with world_of(database_url, worker=False) as world:
        tg = world.tg
        tg.fail_next("sendMessage", status=500)  # the acknowledgement, retried by the handler
        upload = tg.send_document(CHAT, "line.csv", SMALL_CSV, caption="/train epochs=3 predict=5")
        ack = await world.reply_to(upload, contains="Job")
        # The plot fails once (it waits and is sent again), a progress edit fails once, and the
        # summary meets a 429 (the rate limiter waits retry_after and tries again).
        tg.fail_next("sendPhoto", status=500)
        tg.fail_next("editMessageText", status=502)
        tg.fail_next("sendMessage", status=429, retry_after=1)
        with worker_thread(world.store, world.settings):
            summary = await tg.wait_for(chat_id=CHAT, contains="is ready", timeout=TRAINING_TIMEOUT)
            photo = await tg.wait_for(lambda m: m.kind == "photo", QUICK, chat_id=CHAT)
            await finished(world, CHAT, ack)
            tg.fail_next("sendMessage", status=429, retry_after=1)
            await world.reply_to(tg.send_text(CHAT, "/predict 5"), contains="→ y ")

        failed = Counter(c.method for c in tg.failed_calls)
        assert failed == {"sendMessage": 3, "sendPhoto": 1, "editMessageText": 1}, failed
        assert photo.message_id < summary.message_id, "the summary overtook the plot that waited"
        contents = [m.content for m in world.bot_messages(CHAT)]
        assert sum(c.startswith("📈") for c in contents) == 1
        assert sum("is ready" in c for c in contents) == 1
        assert sum(c.startswith("🔮") for c in contents) == 1
        assert sum(c.startswith(("📥", "✅ Job")) for c in contents) == 1


async def test_a_message_telegram_refuses_for_good_is_dropped_not_retried(world: World) -> None:
    # Armed before the upload: a few epochs train faster than the test could arm it after.
    world.tg.fail_next("sendPhoto", status=403, description="Forbidden: bot was blocked")
    upload = world.tg.send_document(CHAT, "line.csv", SMALL_CSV, caption="/train epochs=3")
    await world.reply_to(upload, contains="Job")
    # The plot is dropped at once, and the summary behind it does not wait for it.
    await world.tg.wait_for(chat_id=CHAT, contains="is ready", timeout=TRAINING_TIMEOUT)
    assert len(world.tg.calls_to("sendPhoto", failed=True)) == 1
    assert not [m for m in world.bot_messages(CHAT) if m.kind == "photo"]
    await until(lambda: not world.store.outbox.pending(), QUICK)


async def test_an_unexpected_error_gets_an_apology_without_internals(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(chat_id: int) -> None:
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(world.store.records, "active_model", broken)
    world.tg.send_text(CHAT, "/predict 5")
    answer = await world.tg.wait_for(chat_id=CHAT, contains="went wrong", timeout=QUICK)
    assert "hunter2" not in answer.content and "Traceback" not in answer.content
    # The bot goes on serving.
    assert "Hi!" in (await world.reply_to(world.tg.send_text(CHAT, "/start"))).content


async def test_a_restart_in_the_middle_of_delivery_repeats_nothing(database_url: str) -> None:
    async with world_of(database_url, bot=False) as world:
        tg, store, settings = world.tg, world.store, world.settings
        async with bot_serving(store, settings):
            # The plot goes out slowly, and the bot is stopped while it is on its way
            # (the fake takes the delay off its list when the call comes in).
            tg.delay_next("sendPhoto", 1.0)
            upload = tg.send_document(
                CHAT, "line.csv", SMALL_CSV, caption="/train epochs=3 predict=5"
            )
            job_id = job_id_in(await world.reply_to(upload, contains="Job"))
            await until(lambda: not tg._delays.get("sendphoto"), TRAINING_TIMEOUT)
            assert _job_status(store, job_id) == JobStatus.SUCCEEDED
        # The send in flight finished (and was marked); the summary waited.
        assert [m.kind for m in tg.sent(CHAT)].count("photo") == 1
        assert not [m for m in tg.sent(CHAT) if "is ready" in m.content]
        # The first bot is gone; a new one takes over the same outbox.
        async with bot_serving(store, settings):
            await tg.wait_for(chat_id=CHAT, contains="is ready", timeout=QUICK)
            await asyncio.sleep(3 * settings.poll_interval)
        contents = [m.content for m in tg.sent(CHAT)]
        assert sum(c.startswith("📈") for c in contents) == 1, contents
        assert sum("is ready" in c for c in contents) == 1, contents
        assert not store.outbox.pending()


def _job_status(store: Store, job_id: int) -> JobStatus | None:
    job = store.records.get_job(CHAT, job_id)
    return JobStatus(job.status) if job else None


async def test_webhook_mode_receives_updates_with_the_secret(database_url: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    webhook = {
        "TRAINBOT_WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram",
        "TRAINBOT_WEBHOOK_LISTEN": "127.0.0.1",
        "TRAINBOT_WEBHOOK_PORT": str(port),
        "TRAINBOT_WEBHOOK_SECRET": "s3cret",
    }
    async with world_of(database_url, worker=False, **webhook) as world:
        assert world.tg.webhook["url"] == webhook["TRAINBOT_WEBHOOK_URL"]
        assert world.tg.webhook["secret_token"] == "s3cret"
        welcome = await world.reply_to(world.tg.send_text(CHAT, "/start"))
        assert "Hi!" in welcome.content
        assert not world.tg.calls_to("getUpdates")


# -- bad input and load ---------------------------------------------------------------------


async def test_every_bad_csv_of_the_corpus_gets_its_clear_reply(world: World) -> None:
    corpus = cases()
    assert len(corpus) >= 40
    uploads = [
        (world.tg.send_document(1000 + i, case.name, case.data, caption="/train"), case)
        for i, case in enumerate(corpus)
    ]
    for upload, case in uploads:
        answer = await world.reply_to(upload, within=30.0)
        text = answer.content
        assert "Traceback" not in text and len(text) < 600, (case.name, text)
        assert "job" not in text.lower() or "queued" not in text.lower(), (case.name, text)
    assert world.store.queue.counts().queued == 0


def give_every_chat_a_model(world: World, chats: list[int]) -> None:
    """One quick real training, stored directly as each chat's own active model."""
    x = np.arange(0.0, 100.0)
    dataset = Dataset(x[:, None], 2 * x + 1, ["x"], "y")
    result = train(dataset, TrainParams())
    keras_file = save_model_bytes(result)
    with world.store.db.session() as session:
        for chat in chats:
            world.tg.add_chat(chat)
            session.add(Chat(id=chat))
            session.add(
                Model(
                    chat_id=chat,
                    version=1,
                    is_active=True,
                    keras_file=keras_file,
                    scaling=result.scaling,
                    feature_names=["x"],
                    target_name="y",
                    feature_ranges=[list(r) for r in result.feature_ranges],
                    metrics={},
                    backend=result.backend,
                    device=result.device,
                )
            )


async def test_fifty_chats_predicting_at_once_are_all_answered(world: World) -> None:
    chats = list(range(2001, 2051))
    await asyncio.to_thread(give_every_chat_a_model, world, chats)
    asks = {chat: world.tg.send_text(chat, f"/predict {chat - 2000}") for chat in chats}
    answers = await asyncio.gather(
        *(world.reply_to(ask, contains="→ y ", within=120.0) for ask in asks.values())
    )
    for (chat, _), answer in zip(asks.items(), answers, strict=True):
        [value] = [float(v) for v in re.findall(r"y [=≈] (-?[\d.]+)", answer.content)]
        assert abs(value - (2 * (chat - 2000) + 1)) < 2.0, answer.content
        assert sum("→ y " in m.content for m in world.bot_messages(chat)) == 1


@pytest.mark.postgres
async def test_a_postgres_outage_is_ridden_out_by_bot_and_worker(
    postgres_server: str, reference_csv: bytes
) -> None:
    """PostgreSQL vanishes for a few seconds mid-training: every reply still arrives once."""
    reset_postgres(postgres_server)
    server = make_url(postgres_server)
    proxy = TcpProxy(server.host or "127.0.0.1", server.port or 5432)
    url = server.set(port=proxy.port).render_as_string(hide_password=False)
    try:
        async with world_of(url) as world:
            tg = world.tg
            upload = tg.send_document(
                CHAT,
                "f.csv",
                reference_csv,
                caption="/train preset=tutorial epochs=300 predict=200",
            )
            ack = await world.reply_to(upload, contains="Job")
            await tg.wait_for(
                lambda m: m.message_id == ack.message_id and m.edit_count > 0,
                TRAINING_TIMEOUT,
                chat_id=CHAT,
            )
            proxy.outage(3.0)
            await asyncio.sleep(3.5)
            await tg.wait_for(lambda m: m.kind == "photo", TRAINING_TIMEOUT, chat_id=CHAT)
            await tg.wait_for(chat_id=CHAT, contains="is ready", timeout=TRAINING_TIMEOUT)
            await finished(world, CHAT, ack)
            ask = tg.send_text(CHAT, "/predict 200")
            await world.reply_to(ask, contains="→ y ", within=TRAINING_TIMEOUT)
            await asyncio.sleep(1.0)
            sent = world.bot_messages(CHAT)
            assert sum(m.kind == "photo" for m in sent) == 1
            assert sum("is ready" in m.content for m in sent) == 1
            assert sum("→ y " in m.content for m in sent) == 2  # the summary and the /predict
    finally:
        proxy.close()
