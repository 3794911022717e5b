"""A conversation a newcomer understands, end to end through the fake Bot API: the summary in
plain words, how sure each answer is, which model answers, and the common moves that used to
fail (a bare /train after a file, an edited /predict, a photo, an offer tapped late, archives).
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import AsyncIterator

import numpy as np
import pytest

from tests.test_bot_e2e import (
    CHAT,
    GROUP,
    QUICK,
    SMALL_CSV,
    World,
    finished,
    world_of,
)
from tests.workbooks import zip_of
from trainer.model_file import prediction_table

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

ANN, BOB = 501, 502


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    async with world_of(database_url) as running:
        yield running


def noisy_csv(seed: int = 0, n: int = 120) -> bytes:
    """A price that grows with the area, plus noise: answers cannot be exact."""
    rng = np.random.default_rng(seed)
    area = rng.uniform(30, 120, n)
    price = 2.0 * area + 10 + rng.normal(0, 8, n)
    rows = "".join(f"{a:.1f},{p:.1f}\n" for a, p in zip(area, price, strict=True))
    return ("area,price\n" + rows).encode()


async def test_a_bare_train_after_a_file_trains_it_and_the_old_offer_says_so(
    world: World,
) -> None:
    tg = world.tg
    upload = tg.send_document(CHAT, "flats.csv", noisy_csv())
    offer = await world.reply_to(upload, contains="Shall I train")
    command = tg.send_text(CHAT, "/train epochs=3")
    ack = await world.reply_to(command, contains="Job")
    assert re.search(r"Training on flats\.csv, the file you sent \d+ s ago\.", ack.content)
    await finished(world, CHAT, ack)
    summary = await tg.wait_for(chat_id=CHAT, contains="is ready", timeout=QUICK)

    # The summary opens in plain words, in the target's units; the figures are folded away.
    lines = summary.content.splitlines()
    assert lines[0].startswith("✅ Model v1 (flats.csv, ") and "UTC) is ready" in lines[0]
    assert lines[1].startswith("On rows it never saw, predictions of price were within ±")
    assert "You get " in lines[1] and "MSE" not in lines[1]
    assert [e["type"] for e in summary.entities].count("expandable_blockquote") == 1

    # The offer under the file, tapped now, says the file is training instead of training it.
    jobs_before = world.store.queue.counts()
    tg.press_button(CHAT, offer.message_id, "train")
    await tg.wait_for_call(lambda call: call.method == "answerCallbackQuery", QUICK)
    [answered] = tg.answered_callbacks
    assert answered["text"].startswith("This file went to training already, as job ")
    assert world.store.queue.counts() == jobs_before

    # /predict says how sure; an edited /predict is answered anew, naming the model.
    ask = tg.send_text(CHAT, "/predict 50")
    first = await world.reply_to(ask, contains="price")
    assert re.search(
        r"area = 50 → price ≈ [\d.]+ \(90 % between [\d.]+ and [\d.]+\)", first.content
    )
    assert first.content.startswith("🔮 Model v1 (flats.csv, ")
    tg.edit_text(CHAT, ask["message_id"], "/predict 100")
    second = await tg.wait_for(
        lambda m: (
            m.reply_to is not None
            and m.reply_to.message_id == ask["message_id"]
            and "area = 100" in m.content
        ),
        QUICK,
        chat_id=CHAT,
    )
    assert "price ≈" in second.content

    # A bare /train long after any file asks for the file, as before.
    again = tg.send_text(CHAT, "/train")
    assert "send me the CSV" in (await world.reply_to(again)).content


async def test_photos_and_archives_without_a_table_get_one_sentence(world: World) -> None:
    tg = world.tg
    photo = tg.send_photo(CHAT, caption="/train")
    assert "send the table itself as a file" in (await world.reply_to(photo)).content
    plain_photo = tg.send_photo(CHAT)
    assert "I can't read tables from pictures" in (await world.reply_to(plain_photo)).content
    in_group = tg.send_photo(GROUP, caption="/train@trainbot_test", user_id=ANN)
    assert "send the table itself as a file" in (await world.reply_to(in_group)).content

    readme = tg.send_document(
        CHAT, "data.zip", zip_of({"readme.md": b"# nothing here"}), caption="/train",
        mime_type="application/zip",
    )  # fmt: skip
    said = (await world.reply_to(readme)).content
    assert "This zip holds no table (CSV or .xlsx); please send the table itself" in said
    rar = tg.send_document(CHAT, "data.rar", b"Rar!\x1a\x07", caption="/train")
    assert "unpack it and send the table itself" in (await world.reply_to(rar)).content
    screenshot = tg.send_document(CHAT, "table.png", b"\x89PNG", caption="/train",
                                  mime_type="image/png")  # fmt: skip
    assert "I can't read tables from pictures" in (await world.reply_to(screenshot)).content


async def test_a_group_knows_which_model_answers_and_numbers_are_never_reused(
    world: World,
) -> None:
    tg = world.tg

    async def train(user_id: int, name: str) -> str:
        upload = tg.send_document(
            GROUP, name, SMALL_CSV, caption="/train@trainbot_test epochs=3", user_id=user_id
        )
        ack = await world.reply_to(upload, contains="Job")
        await finished(world, GROUP, ack)
        summary = await tg.wait_for(
            lambda m: (
                m.reply_to is not None
                and m.reply_to.message_id == upload["message_id"]
                and "is ready" in m.content
            ),
            QUICK,
            chat_id=GROUP,
        )
        return summary.content

    first = await train(ANN, "ann.csv")
    assert "✅ Model v1 (ann.csv, " in first and "trained by Tester501) is ready" in first
    assert "in place of" not in first  # nothing was answering before
    second = await train(BOB, "bob.csv")
    assert "trained by Tester502) is ready" in second
    # Ann's answers change with Bob's model: the group is told, and how to go back.
    assert "From now on /predict here answers with it, in place of model v1 (ann.csv, " in second
    assert "trained by Tester501); /use v1 goes back." in second

    answer = await world.reply_to(
        tg.send_text(GROUP, "/predict@trainbot_test 10", user_id=ANN), contains="y "
    )
    assert answer.content.startswith("🔮 Model v2 (bob.csv, ") and "trained by Tester502" in (
        answer.content
    )
    listing = (await world.reply_to(tg.send_text(GROUP, "/models@trainbot_test"))).content
    assert re.search(r"v2 \(active\) · bob\.csv · \d+ \w+ \d{4} [\d:]+ UTC · trained by Tester502",
                     listing)  # fmt: skip
    assert "v1 · ann.csv · " in listing

    used = (await world.reply_to(tg.send_text(GROUP, "/use@trainbot_test v1"))).content
    assert used.startswith("Model v1 (ann.csv, ") and "is now the one /predict uses here" in used

    # A deleted number is never given again: old replies saying "v2" keep meaning Bob's model.
    deleted = await world.reply_to(tg.send_text(GROUP, "/delete@trainbot_test v2"))
    assert "Deleted model v2" in deleted.content
    third = await train(ANN, "ann2.csv")
    assert "✅ Model v3 (ann2.csv, " in third


async def test_a_big_table_of_predictions_comes_back_zipped(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    tg = world.tg
    upload = tg.send_document(CHAT, "line.csv", SMALL_CSV, caption="/train epochs=3")
    await finished(world, CHAT, await world.reply_to(upload, contains="Job"))
    # The worker runs in this process: a low bound stands in for a 20 MB upload's answer.
    monkeypatch.setattr(prediction_table, "ZIP_ABOVE_BYTES", 1_000)
    inputs = b"x\n" + b"".join(f"{i}\n".encode() for i in range(500))
    ask = tg.send_document(CHAT, "inputs.csv", inputs, caption="/predict")
    answer = await tg.wait_for(
        lambda m: m.kind == "document" and (m.document_name or "").endswith(".zip"),
        QUICK,
        chat_id=CHAT,
    )
    assert answer.reply_to is not None and answer.reply_to.message_id == ask["message_id"]
    assert "🔮 Predictions for 500 rows from model v1 (line.csv, " in (answer.caption or "")
    assert "Zipped: the CSV inside is " in (answer.caption or "")
    with zipfile.ZipFile(io.BytesIO(answer.document_bytes or b"")) as archive:
        lines = archive.read("predictions.csv").decode().splitlines()
    assert len(lines) == 501 and lines[0].startswith("x,y_predicted")
