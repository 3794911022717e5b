"""The bot's pieces that need no Telegram: texts, progress, parsing, access, update order."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from telegram import Chat, Message, Update, User

from bot import access, formatting, progress, texts
from bot.parsing import Command, parse_command, parse_job_id, parse_model_version
from bot.ratelimit import ChatRateLimit
from bot.updates import PerChatUpdateProcessor
from storage.models import Job, JobKind, JobStatus
from tests.fake_telegram import MAX_CAPTION_LENGTH, MAX_TEXT_LENGTH, format_text
from trainbot.settings import Settings


def shown(html_text: str) -> str:
    """The text Telegram would show for an HTML message (raises if the HTML is invalid)."""
    plain, _ = format_text(html_text, "HTML")
    return plain


METRICS = {"mse": 0.0001, "rmse": 0.01, "mae": 0.008, "r2": 0.99999}


def summary_payload(n_features: int = 1, n_predictions: int = 1) -> dict[str, Any]:
    features = ["x"] if n_features == 1 else [f"feature <{i}> & co" for i in range(n_features)]
    return {
        "job_id": 7,
        "model_version": 2,
        "n_rows": 1000,
        "feature_names": features,
        "target_name": "y",
        "metrics": {"train": METRICS, "validation": METRICS},
        "baseline": {"train": METRICS, "validation": None},
        "beats_baseline": True,
        "model_kind": "network",
        "choice": "You get the network (an average of 5 members): 5-fold cross-validation.",
        "validation": {"folds": 5, "fold_mse": [1.0, 4.0, 2.25, 1.0, 1.0]},
        "verdict": "The network beats the straight line <clearly>.",
        "predictions": [
            {"inputs": [float(i)] * n_features, "value": 93.3312, "warning": "far & away"}
            for i in range(n_predictions)
        ],
        "fit_seconds": 0.8123,
        "epochs_run": 87,
        "backend": "tensorflow",
        "device": "CPU",
    }


def test_the_summary_shows_metrics_verdict_and_predictions() -> None:
    text = shown(texts.train_summary(summary_payload()))
    assert "Model v2 is ready: y from x, 1,000 rows." in text
    assert "R²" in text and "held out" in text and "line RMSE" in text
    # A summary stored with its sentences: the verdict is said, the choice not again.
    assert "You get the network (an average of 5 members)" not in text
    assert "Held-out RMSE per fold: 1 to 2." in text
    assert "beats the straight line <clearly>" in text
    assert "x = 0 → y = 93.3312" in text and "⚠️ far & away" in text
    assert "87 epochs in 0.812 s on CPU (tensorflow)" in text


def test_the_summary_says_the_stored_facts_in_words() -> None:
    """The trainer stores facts (trainer.words puts them in words); older rows hold sentences."""
    payload = summary_payload()
    payload["choice"] = {"kind": "network", "folds": 5, "network_mse": 0.25, "line_mse": 4.0}
    payload["verdict"] = {"kind": "curved_still_improving", "network_mse": 0.25, "line_mse": 4.0}
    payload["columns"] = [
        {"column": "id", "kind": "ignored", "reason": "counter"},
        {"column": "city <b>", "kind": "category", "levels": 3, "other": 0, "missing": 2},
    ]
    payload["predictions"] = [
        {
            "inputs": [900.0],
            "value": 1.5,
            "warnings": [
                {"column": "x", "kind": "far_outside", "value": "900", "low": "0", "high": "99"}
            ],
        }
    ]
    text = shown(texts.train_summary(payload))
    assert "MSE (5-fold cross-validation): network 0.25, straight line 4." in text
    assert "You get a neural network: its typical error on rows it never saw was 4.0x" in text
    assert "still improving when its step budget ran out, so more epochs may help." in text
    assert "• id: ignored (a row number or id)" in text
    assert "• city <b>: a category, one column for each of 3 values; 2 empty cells as" in text
    assert (
        "⚠️ x = 900 is far outside the training range 0 to 99, so this prediction is a guess."
        in text
    )
    caption = texts.predictions_csv_caption(
        {"rows": 2, "notes": [{"column": "x", "kind": "absent", "role": "number", "fill": "2"}]}
    )
    assert "x: not in the file, so in every row I used 2, the training median" in shown(caption)


@pytest.mark.parametrize(("n_features", "n_predictions"), [(1, 5000), (50, 50), (50, 1)])
def test_the_summary_always_fits_one_message(n_features: int, n_predictions: int) -> None:
    html_text = texts.train_summary(summary_payload(n_features, n_predictions))
    assert len(shown(html_text)) <= MAX_TEXT_LENGTH and formatting.utf16_len(html_text) <= 4096
    assert "Ask it more with /predict" in shown(html_text)


def test_captions_fit_and_escape_column_names() -> None:
    payload = summary_payload(n_features=50)
    caption = texts.plot_caption(payload)
    assert len(shown(caption)) <= MAX_CAPTION_LENGTH
    assert "feature <0> & co" in shown(caption) and "and 45 more" in shown(caption)
    caption = texts.model_file_caption(3, "y", ["x"], {"mean": [1.0] * 2000})
    assert len(shown(caption)) <= MAX_CAPTION_LENGTH


def test_predictions_show_each_input_value_and_warning() -> None:
    payload = {
        "job_id": 3,
        "feature_names": ["a", "b"],
        "target_name": "z",
        "predictions": [{"inputs": [1, 2], "value": 3.5, "warning": None}],
    }
    assert shown(texts.predictions(payload)) == "🔮 Predictions:\na = 1, b = 2 → z = 3.5"
    payload["model_version"] = 4
    assert shown(texts.predictions(payload)).startswith("🔮 Model v4 predicts:")


def test_a_failure_reads_as_one_sentence() -> None:
    payload = {"job_id": 9, "job_kind": "train", "error": "Column <y> is constant."}
    assert shown(texts.job_failed(payload)) == "❌ Job 9 failed: Column <y> is constant."


def test_clip_cuts_at_a_line_and_keeps_html_valid() -> None:
    text = "\n".join(f"<b>line {i}</b>" for i in range(2000))
    clipped = formatting.clip(text, 1000)
    assert formatting.utf16_len(clipped) <= 1000 and clipped.endswith("…")
    shown(clipped)
    assert formatting.clip("short") == "short"


def test_clip_closes_a_table_that_spans_many_lines() -> None:
    # A <pre> of many lines, cut at a line break inside it, used to stay open: Telegram then
    # refused the message ("can't parse entities").
    rows = "\n".join(f"row {i:>4}  {i * 1.5:>10}" for i in range(400))
    text = f"<b>Table</b>\n<pre>{rows}</pre>\nAsk me more."
    clipped = formatting.clip(text, 1000)
    assert formatting.utf16_len(clipped) <= 1000
    assert clipped.endswith("\n…</pre>") and "row   10" in shown(clipped)


def test_clip_never_cuts_a_tag_or_a_character_reference() -> None:
    line = '<a href="https://example.com/x">a &amp; b &lt;c&gt;</a> ' * 300
    for limit in range(40, 400, 7):
        clipped = formatting.clip(line, limit)
        assert formatting.utf16_len(clipped) <= limit, limit
        text = shown(clipped)  # raises for a cut tag or an unclosed one
        assert "&am" not in text and "&l" not in text and "&g" not in text, (limit, clipped)


_PIECES = st.one_of(
    st.text(alphabet="ab <&>\n😀", min_size=1, max_size=8).map(formatting.esc),
    st.sampled_from(["\n", "&amp;", "&#128512;"]),
)


@st.composite
def _html(draw: st.DrawFn, depth: int = 0) -> str:
    parts = draw(st.lists(_PIECES, min_size=1, max_size=6))
    if depth < 3:
        for _ in range(draw(st.integers(0, 3))):
            tag = draw(st.sampled_from(["b", "i", "code", "pre", 'a href="https://x.y"']))
            name = tag.split()[0]
            parts.append(f"<{tag}>{draw(_html(depth + 1))}</{name}>")
    return "".join(draw(st.permutations(parts)))


@given(text=_html(), limit=st.integers(10, 300))
@hypothesis_settings(max_examples=300, deadline=None)
def test_clipped_html_always_parses_and_fits(text: str, limit: int) -> None:
    clipped = formatting.clip(text, limit)
    fits = limit if clipped != text else max(limit, formatting.utf16_len(text))
    assert formatting.utf16_len(clipped) <= fits
    shown(clipped)
    if clipped != text:
        assert formatting.ELLIPSIS in clipped


def test_plain_drops_tags_and_unescapes() -> None:
    assert formatting.plain('<b>a &lt; b</b> <a href="x">&amp;</a>\n<pre>c</pre>') == "a < b &\nc"


@pytest.mark.parametrize(
    ("done", "total", "bar"),
    [(0, 10, "▱" * 12), (1, 500, "▰" + "▱" * 11), (499, 500, "▰" * 11 + "▱"), (10, 10, "▰" * 12)],
)
def test_the_progress_bar_is_never_full_too_early(done: int, total: int, bar: str) -> None:
    assert progress.bar(done, total) == bar


def job(**fields: Any) -> Job:
    values: dict[str, Any] = {
        "id": 12,
        "kind": JobKind.TRAIN,
        "status": JobStatus.RUNNING,
        "error": None,
        "cancel_requested": False,
        "progress_epoch": None,
        "progress_total": None,
        "progress_loss": None,
        "progress_val_loss": None,
        "progress_eta_seconds": None,
        "result": None,
    }
    values.update(fields)
    return Job(**values)


def test_progress_reads_as_the_job_goes() -> None:
    assert progress.render(job(status=JobStatus.QUEUED)) == "⏳ Job 12 · waiting in the queue"
    assert progress.render(job()) == "⚙️ Job 12 · starting…"
    running = progress.render(
        job(
            progress_epoch=120,
            progress_total=500,
            progress_loss=0.01234,
            progress_val_loss=0.015,
            progress_eta_seconds=75,
        )
    )
    assert running == (
        "🏋️ Job 12 · training\n▰▰▰▱▱▱▱▱▱▱▱▱ 120/500 epochs\n"
        "loss 0.01234 · val 0.015 · about 1 min 15 s left"
    )
    done = job(
        status=JobStatus.SUCCEEDED,
        result={"model_version": 3, "epochs_run": 87, "fit_seconds": 0.81},
    )
    assert progress.render(done) == "✅ Job 12 · done: model v3, 87 epochs in 0.81 s"
    assert progress.render(job(status=JobStatus.FAILED)).startswith("❌")
    assert progress.render(job(status=JobStatus.CANCELLED)).startswith("❌")
    assert progress.render(job(cancel_requested=True)) == "🛑 Job 12 · stopping…"
    assert progress.render(job(status=JobStatus.QUEUED, error="boom")).startswith("🔁")


def test_commands_are_read_from_text_and_captions() -> None:
    assert parse_command("/train epochs=5 x=a", "trainbot") == Command("train", ["epochs=5", "x=a"])
    assert parse_command("/Train@TrainBot  predict=200", "trainbot") == Command(
        "train", ["predict=200"]
    )
    assert parse_command("/train@otherbot", "trainbot") is None
    assert parse_command("train please", "trainbot") is None
    assert parse_command(None, "trainbot") is None
    assert parse_job_id(["12"]) == parse_job_id(["#12"]) == 12
    assert parse_job_id(["twelve"]) is None and parse_job_id(["1", "2"]) is None
    assert parse_model_version(["v2"]) == parse_model_version(["2"]) == 2
    assert parse_model_version(["latest"]) is None


def test_allowlists_admit_listed_users_anywhere_and_anyone_in_listed_chats() -> None:
    open_bot = Settings()
    assert access.is_allowed(open_bot, 1, 1)
    closed = Settings(allowed_users=frozenset({5}), allowed_chats=frozenset({-100}))
    assert access.is_allowed(closed, 5, 999)
    assert access.is_allowed(closed, 6, -100)
    assert not access.is_allowed(closed, 6, 999)


async def test_one_chats_updates_run_in_order_and_other_chats_do_not_wait() -> None:
    processor = PerChatUpdateProcessor(16)
    events: list[str] = []
    release_slow = asyncio.Event()

    def update(chat_id: int, update_id: int) -> Update:
        chat = Chat(chat_id, "private")
        message = Message(update_id, None, chat, from_user=User(chat_id, "u", False))  # type: ignore[arg-type]
        return Update(update_id, message=message)

    async def handle(name: str, wait: asyncio.Event | None = None) -> None:
        events.append(f"{name} start")
        if wait is not None:
            await wait.wait()
        events.append(f"{name} end")

    tasks = [
        asyncio.create_task(processor.process_update(update(1, 1), handle("a1", release_slow))),
        asyncio.create_task(processor.process_update(update(1, 2), handle("a2"))),
        asyncio.create_task(processor.process_update(update(2, 3), handle("b1"))),
    ]
    await asyncio.sleep(0.05)
    assert events == ["a1 start", "b1 start", "b1 end"]  # chat 2 went past chat 1's slow one
    release_slow.set()
    await asyncio.gather(*tasks)
    assert events[3:] == ["a1 end", "a2 start", "a2 end"]


async def test_one_chats_backlog_holds_one_slot_and_other_chats_go_past_it() -> None:
    # Four slots, and one chat with ten updates behind a slow first one: with the slot taken
    # before the chat's turn, its backlog would hold all four and chat 2 would wait.
    processor = PerChatUpdateProcessor(4)
    release = asyncio.Event()
    done: list[int] = []

    async def handle(update_id: int, wait: bool) -> None:
        if wait:
            await release.wait()
        done.append(update_id)

    backlog = [
        asyncio.create_task(processor.process_update(chat_update(1, i), handle(i, i == 1)))
        for i in range(1, 11)
    ]
    await asyncio.sleep(0.05)
    other = asyncio.create_task(processor.process_update(chat_update(2, 99), handle(99, False)))
    await asyncio.wait_for(other, 5)
    assert done == [99]
    assert processor.current_concurrent_updates == 1  # chat 1's slow update, and only it
    release.set()
    await asyncio.gather(*backlog)
    assert done == [99, *range(1, 11)]
    assert processor.max_concurrent_updates == 4 and processor.current_concurrent_updates == 0


def chat_update(chat_id: int, update_id: int) -> Update:
    chat = Chat(chat_id, "private")
    message = Message(update_id, None, chat, from_user=User(chat_id, "u", False))  # type: ignore[arg-type]
    return Update(update_id, message=message)


def test_every_command_in_the_menu_has_a_handler() -> None:
    from telegram.ext import CommandHandler

    from bot.app import build_application

    settings = Settings(telegram_bot_token="1:fake")
    application = build_application(settings, SimpleNamespace())  # type: ignore[arg-type]
    handled = {
        name
        for handlers in application.handlers.values()
        for handler in handlers
        if isinstance(handler, CommandHandler)
        for name in handler.commands
    }
    assert set(texts.COMMANDS) <= handled


def test_the_predict_limit_is_a_sliding_window_and_tells_once() -> None:
    now = [0.0]
    limit = ChatRateLimit(3, 10.0, clock=lambda: now[0])
    assert [limit.try_acquire(1) for _ in range(3)] == [0.0, 0.0, 0.0]
    now[0] = 4.0
    wait = limit.try_acquire(1)
    assert wait == pytest.approx(6.0)  # the oldest of the three leaves the window at 10 s
    assert limit.try_acquire(2) == 0.0  # another chat has a window of its own
    assert limit.should_tell(1, wait) and not limit.should_tell(1, wait)
    now[0] = 10.0  # all three have left the window; refused requests never counted
    assert [limit.try_acquire(1) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limit.try_acquire(1) == pytest.approx(10.0)
    assert limit.should_tell(1, 1.0)  # a new refusal after the wait is told again


def test_the_model_file_caption_says_how_to_call_a_model_that_stands_alone() -> None:
    from trainer.tables.dataset import read_dataset

    table = b"region,size,price\n" + b"".join(
        f"{region},{size},{size * 3}\n".encode()
        for region in ("north", "south")
        for size in range(8)
    )
    dataset = read_dataset(table)
    scaling = {"in_model": True, "columns": dataset.column_plan.to_dict()}
    text = shown(texts.model_file_caption(3, "price", dataset.feature_names, scaling))
    assert "It stands alone: model.predict(np.array([[region=north, region=south, size]]))" in text
    assert "Made from your columns as: region: 1 in region=north, region=south" in text
    assert formatting.utf16_len(text) <= 1024
