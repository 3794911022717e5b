"""A yes/no table end to end in the chat (issue 20): the reply says it is a class, the plot is
a confusion matrix with a calibration panel, and /predict answers a class and its probability."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import numpy as np
import pytest

from tests.test_bot_e2e import CHAT, QUICK, TRAINING_TIMEOUT, World, finished, world_of

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    """Fake Telegram, a database, a worker thread and the bot, all running."""
    async with world_of(database_url) as running_world:
        yield running_world


def _passed_csv() -> bytes:
    rng = np.random.default_rng(7)
    lines = ["hours,course,passed"]
    for _ in range(80):
        hours, course = rng.uniform(0, 10), rng.choice(["math", "art"])
        passed = hours + (1.5 if course == "art" else 0) + rng.normal(0, 1.5) > 5
        lines.append(f"{hours:.1f},{course},{'yes' if passed else 'no'}")
    return ("\n".join(lines) + "\n").encode()


async def test_a_yes_no_table_trains_a_classifier_and_predict_answers_a_class(
    world: World,
) -> None:
    tg = world.tg
    upload = tg.send_document(CHAT, "exam.csv", _passed_csv(), caption="/train epochs=6")
    ack = await world.reply_to(upload, contains="Job")
    assert 'passed (a class: "no", "yes")' in ack.content

    photo = await tg.wait_for(lambda m: m.kind == "photo", TRAINING_TIMEOUT, chat_id=CHAT)
    summary = await tg.wait_for(chat_id=CHAT, contains="is ready", timeout=QUICK)
    await finished(world, CHAT, ack)
    assert photo.photo_bytes and photo.photo_bytes.startswith(b"\x89PNG")
    assert b"Confusion matrix and calibration" in photo.photo_bytes
    assert "is a class, so I trained a classifier of 2 classes" in summary.content
    assert "accuracy" in summary.content and "log-loss" in summary.content
    assert "ROC AUC" in summary.content

    ask = tg.send_text(CHAT, "/predict hours=9.5 course=art")
    answer = await world.reply_to(ask, contains="passed: ")
    match = re.search(r"passed: (yes|no) \((\d+|>99|<1) %\)", answer.content)
    assert match and match.group(1) == "yes", answer.content

    inputs = tg.send_document(
        CHAT, "new.csv", b"hours,course\n0.5,math\n9,music\n", caption="/predict"
    )
    await world.reply_to(inputs, contains="Job")
    table = await tg.wait_for(
        lambda m: m.kind == "document" and m.document_name != "new.csv", QUICK, chat_id=CHAT
    )
    assert table.document_bytes is not None
    header, first, second = table.document_bytes.decode().splitlines()[:3]
    assert header == "hours,course,passed_predicted,P(no),P(yes),warning"
    assert first.split(",")[2] == "no"
    assert second.endswith("course: new value")
    assert "new" in (table.caption or "") or "not seen" in (table.caption or "")
