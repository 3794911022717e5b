"""Tables as people have them, end to end: the real Application against the fake Bot API, a
real worker training a few epochs, a real database.

Each upload either trains (and the reply says what was done with each column that was no
plain number) or gets one clear sentence at once; named /predict, unseen categories, gaps,
workbooks and zip bombs included.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import AsyncIterator

import pytest

from tests.test_bot_e2e import CHAT, QUICK, TRAINING_TIMEOUT, World, finished, world_of
from tests.test_trainer_columns import insurance
from tests.workbooks import xlsx, zip_bomb, zip_of

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    """Fake Telegram, a database, a worker thread and the bot, all running."""
    async with world_of(database_url) as running:
        yield running


def charges(text: str) -> list[float]:
    return [float(v) for v in re.findall(r"charges [=≈] (-?[\d.]+(?:e[-+]?\d+)?)", text)]


async def train(world: World, name: str, data: bytes, caption: str, **kwargs: object) -> str:
    """Upload a table with a /train caption; wait for the summary and return its text."""
    upload = world.tg.send_document(CHAT, name, data, caption=caption, **kwargs)  # type: ignore[arg-type]
    ack = await world.reply_to(upload, contains="Job")
    summary = await world.tg.wait_for(chat_id=CHAT, contains="is ready", timeout=TRAINING_TIMEOUT)
    await finished(world, CHAT, ack)
    return summary.content


async def test_a_messy_table_trains_and_named_predictions_answer(world: World) -> None:
    summary = await train(world, "insurance.csv", insurance(), "/train epochs=3")
    assert "charges from when, region, age, income, 56 rows." in summary
    # One short block says what was done with each column that was no plain number.
    block = summary[summary.index("Columns") :]
    for note in (
        "charges: 4 rows without a value dropped",
        "id: ignored (a row number or id)",
        "when: a date, used as year and day of week",
        "region: a category, one column for each of 4 values",
        "age: 7 empty cells filled with the median 34 (and marked)",
        'income: read "$1,000" as 1000',
        "note: ignored (a different value in every row)",
    ):
        assert f"• {note}" in block, (note, block)
    assert "/predict when=2024-06-26 region=north age=34 income=2091.5" in summary

    tg = world.tg
    answer = await world.reply_to(
        tg.send_text(CHAT, '/predict AGE=50 Region=north income="$2,000"'), contains="→ charges "
    )
    assert "region = north, age = 50, income = 2000 → charges " in answer.content
    assert "when was not given, so I used 2024-06-26, the training middle date." in answer.content
    [named] = charges(answer.content)

    # The same inputs in column order give the same answer.
    bare = await world.reply_to(
        tg.send_text(CHAT, "/predict 2024-06-26 north 50 2000"), contains="→ charges "
    )
    assert charges(bare.content) == [named]

    unseen = await world.reply_to(tg.send_text(CHAT, "/predict region=mars"), contains="charges")
    assert 'region "mars" was not in the training data' in unseen.content

    typo = await world.reply_to(tg.send_text(CHAT, "/predict bmi=32"))
    assert 'This model has no input "bmi"; its inputs are: when, region, age, income.' in (
        typo.content
    )
    assert "For example: /predict when=2024-06-26 region=north" in typo.content
    usage = await world.reply_to(tg.send_text(CHAT, "/predict"))
    assert "This model takes 4 inputs (when, region, age, income)" in usage.content
    word = await world.reply_to(tg.send_text(CHAT, "/predict age=old"))
    assert 'age must be a number, not "old".' in word.content

    # A table of inputs: extra columns kept, a missing one filled and named in the caption.
    inputs = tg.send_document(
        CHAT,
        "new.csv",
        b'Region,age,income,comment\nnorth,50,"$2,000",=cmd()\nmars,,"$1,500",x\n',
        caption="/predict",
    )
    await world.reply_to(inputs, contains="Job")
    result = await tg.wait_for(
        lambda m: m.kind == "document" and m.document_name != "new.csv", QUICK, chat_id=CHAT
    )
    rows = list(csv.reader(io.StringIO(result.document_bytes.decode())))
    assert rows[0] == [
        "Region", "age", "income", "comment", "charges_predicted", "charges_low",
        "charges_high", "warning",
    ]  # fmt: skip
    # The chat showed the prediction to the interval's precision, the file in full.
    assert rows[1][3] == "'=cmd()" and float(rows[1][4]) == pytest.approx(named, rel=1e-2)
    assert float(rows[1][5]) < float(rows[1][4]) < float(rows[1][6])
    assert rows[2][7] == "region: new value; age: filled"
    caption = result.caption or ""
    assert "Predictions for 2 rows from model v1 (insurance.csv, " in caption
    assert "• when: not in the file, so in every row I used 2024-06-26" in caption


async def test_numbers_written_as_people_write_them_train(world: World) -> None:
    rows = "".join(f'"{1000 + 7 * i:,}.5",{i % 20}%,"${200 + i:,}",{3 * i}\n' for i in range(30))
    summary = await train(
        world, "money.csv", f"area,rate,price,y\n{rows}".encode(), "/train epochs=3"
    )
    assert "y from area, rate, price, 30 rows." in summary
    for note in (
        'area: read "1,000.5" as 1000.5',
        'rate: read "0%" as 0',
        'price: read "$200" as 200',
    ):
        assert f"• {note}" in summary, (note, summary)
    answer = await world.reply_to(
        world.tg.send_text(CHAT, "/predict area=1,100.5 rate=12% price=$210"), contains="y ="
    )
    assert "area = 1100.5, rate = 12, price = 210 → y =" in answer.content


async def test_a_workbook_trains_from_the_sheet_it_names(world: World) -> None:
    days = [dt.date(2025, 1, 1) + dt.timedelta(days=i) for i in range(30)]
    data = xlsx(
        [["ignore me"], [1, 2]],
        sheets={
            "Sales 2025": [["day", "shop", "sales"]]
            + [[day, ["A", "B"][i % 2], 10.5 * i + 3 * (i % 2)] for i, day in enumerate(days)]
        },
    )
    summary = await train(
        world, "book.xlsx", data, "/train epochs=3 sheet=sales_2025", mime_type=XLSX
    )
    assert "sales from day, shop, 30 rows." in summary
    assert "• day: a date, used as year and day of week" in summary
    assert "• shop: a category, one column for each of 2 values" in summary
    answer = await world.reply_to(
        world.tg.send_text(CHAT, "/predict day=2025-01-15 shop=b"), contains="sales ="
    )
    assert "day = 2025-01-15, shop = b → sales =" in answer.content
    # A workbook of inputs gets a CSV of predictions back.
    inputs = world.tg.send_document(
        CHAT,
        "next.xlsx",
        xlsx([["day", "shop"], [dt.date(2025, 2, 1), "A"]]),
        caption="/predict",
        mime_type=XLSX,
    )
    await world.reply_to(inputs, contains="Job")
    result = await world.tg.wait_for(
        lambda m: m.kind == "document" and m.document_name != "next.xlsx", QUICK, chat_id=CHAT
    )
    assert result.document_bytes.decode().splitlines()[1].startswith("2025-02-01,A,")


async def test_files_that_cannot_train_get_one_clear_sentence_at_once(world: World) -> None:
    tg = world.tg
    text_target = b"area,kind\n" + b"".join(f"{50 + i},kind{i}\n".encode() for i in range(25))
    cases = [
        (
            tg.send_document(CHAT, "bomb.xlsx", zip_bomb(), caption="/train", mime_type=XLSX),
            "This workbook unpacks to 125.8 MB, over the 100.0 MB I open",
        ),
        (
            tg.send_document(CHAT, "kinds.csv", text_target, caption="/train"),
            'Column "kind" holds text with 25 different values',
        ),
        (
            tg.send_document(
                CHAT, "sheet.ods", zip_of({"mimetype": b"x"}), caption="/train",
                mime_type="application/vnd.oasis.opendocument.spreadsheet",
            ),
            "Save it as .xlsx or CSV",
        ),
        (
            tg.send_document(CHAT, "few.csv", b"x,y\n" + b"1,\n" * 8 + b"2,3\n" * 3,
                             caption="/train"),
            'Only 3 rows have a value in column "y" (8 empty); I need at least 10',
        ),
        (
            tg.send_document(CHAT, "two.csv", insurance(), caption="/train predict=1,2,3"),
            "predict: This model needs 4 values per prediction",
        ),
        (
            tg.send_document(
                CHAT, "book.xlsx", xlsx([["x", "y"], [1, 2]]), caption="/train sheet=Nope",
                mime_type=XLSX,
            ),
            'There is no sheet named "Nope"; the sheets are: Data.',
        ),
    ]  # fmt: skip
    for message, expected in cases:
        answer = await world.reply_to(message)
        assert expected in answer.content, (expected, answer.content)
        assert "Traceback" not in answer.content
    assert world.store.queue.counts().queued == 0


async def test_a_russian_excel_csv_trains_and_predict_reads_it_the_same_way(world: World) -> None:
    rows = [
        f"{['Центр', 'Север', 'Юг'][i % 3]};{40 + i},{i % 10};"
        f"{(dt.date(2024, 1, 1) + dt.timedelta(days=9 * i)):%d.%m.%Y};{5_000 + 120 * i}"
        for i in range(40)
    ]
    data = ("Район;Площадь;Дата;Цена\n" + "\n".join(rows) + "\n").encode("cp1251")
    summary = await train(world, "квартиры.csv", zip_of({"квартиры.csv": data}), "/train epochs=3")
    assert "Цена from Район, Площадь, Дата, 40 rows." in summary
    answer = await world.reply_to(
        world.tg.send_text(CHAT, "/predict Площадь=50,5 Район=Юг Дата=31.12.2024"),
        contains="→ Цена ",
    )
    # Numbers as the table wrote them: a decimal comma in, a decimal comma out.
    assert "Район = Юг; Площадь = 50,5; Дата = 31.12.2024 → Цена " in answer.content
    assert "not in the training data" not in answer.content
    several = world.tg.send_document(
        CHAT, "two.zip", zip_of({"a.csv": data, "b.csv": data}), caption="/train"
    )
    refusal = await world.reply_to(several)
    assert "This zip holds 2 tables (a.csv, b.csv); please send one table per zip" in (
        refusal.content
    )
