"""What a newcomer reads: a training's summary in plain words first, with the figures folded
away, and predictions that say how sure they are, in the table's own decimal mark."""

from __future__ import annotations

from typing import Any

from bot import texts
from tests.fake_telegram import format_text
from trainer.tables.columns import Column
from trainer.words import summary as summary_words


def shown(html_text: str) -> tuple[str, list[dict[str, Any]]]:
    """The text Telegram would show and its entities (raises if the HTML is invalid)."""
    return format_text(html_text, "HTML")


def summary(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "model_version": 3,
        "n_rows": 200,
        "feature_names": ["area", "district", "rooms", "floor"],
        "target_name": "price",
        "metrics": {"train": {"rmse": 7.0}, "validation": {"rmse": 7.5}},
        "baseline": {"train": {"rmse": 9.0}, "validation": {"rmse": 9.5}},
        "model_kind": "line",
        "choice": {"kind": "line", "folds": 5, "network_mse": 8.26e-06, "line_mse": 8.26e-06},
        "verdict": {"kind": "straight", "network_mse": 8.26e-06, "line_mse": 8.26e-06},
        "interval": {"half_width": 12.3, "level": 0.9, "varies": False},
        "importance": {"area": 0.45, "district": 0.35, "rooms": 0.12, "floor": 0.08},
        "fit_seconds": 2.5,
        "epochs_run": 120,
        "backend": "jax",
        "device": "cpu",
    }
    return {**payload, **changes}


def test_the_summary_opens_in_plain_words_and_folds_the_figures_away() -> None:
    text, entities = shown(texts.train_summary(summary()))
    lines = text.splitlines()
    assert lines[1] == (
        "On rows it never saw, predictions of price were within ±12 for 9 in 10 rows; area and "
        "district matter most. You get a straight line: the data follow one, and a network did "
        "no better there."
    )
    # The figures behind those words sit in an expandable quote, after the plain words.
    (quote,) = [e for e in entities if e["type"] == "expandable_blockquote"]
    folded = text[quote["offset"] : quote["offset"] + quote["length"]]
    assert folded.startswith("Details")
    # The members' best held-out round was their start, the line: no tie is made up.
    assert (
        "MSE (5-fold cross-validation): straight line 8.26e-06; the network never got below the "
        "line it starts as." in folded
    )
    assert "Inputs by importance: area 45 %, district 35 %, rooms 12 %, floor 8 %." in folded
    assert text.index("You get a straight line") < quote["offset"]
    # Said once: no second sentence on the choice (the old "so a line suffices and you get it").
    assert text.count("straight line") == 2  # the plain sentence and the figures' label
    assert "suffices" not in text


def test_too_few_rows_counts_the_users_columns_not_one_hot_features() -> None:
    verdict = {
        "kind": "too_few_rows",
        "final_train_mse": 0.1,
        "final_val_mse": 2.0,
        "n_rows": 200,
        "n_inputs": 8,  # as stored before: one-hot features of 4 columns
    }
    text, _ = shown(texts.train_summary(summary(verdict=verdict)))
    assert "200 rows are too few for a network on 4 input columns" in text
    assert "8 input" not in text
    assert "The network's MSE: 0.1 on its training rows, 2 on held-out ones." in text


def test_each_verdict_becomes_one_plain_sentence_that_names_the_model() -> None:
    for kind in ("curved", "curved_still_improving", "curved_underfit", "straight",
                 "line_as_good", "beats_line", "like_line", "loses_on_line", "loses"):  # fmt: skip
        said = summary_words.model_in_words({"kind": kind, "network_mse": 1.0, "line_mse": 4.0})
        assert said.startswith("You get "), kind
        assert "MSE" not in said and "{" not in said, kind
    curved = summary_words.model_in_words({"kind": "curved", "network_mse": 1, "line_mse": 4})
    assert curved == (
        "You get a neural network: its typical error on rows it never saw was 2.0x smaller than "
        "a straight line's."
    )


def test_a_prediction_says_how_sure_in_the_tables_decimal_mark() -> None:
    payload = {
        "model_version": 3,
        "feature_names": ["Площадь", "Район"],
        "target_name": "Цена",
        "decimal": ",",
        "predictions": [
            {
                "inputs": [50.5, "центр"],
                "names": ["Площадь", "Район"],
                "value": 93.3312,
                "low": 88.08,
                "high": 98.61,
            }
        ],
    }
    text, _ = shown(texts.predictions(payload))
    assert "Площадь = 50,5; Район = центр → Цена ≈ 93,3 (90 % between 88,1 and 98,6)" in text
    point = {**payload, "decimal": "."}
    assert (
        "Площадь = 50.5, Район = центр → Цена ≈ 93.3 (90 % between 88.1 and 98.6)"
        in (shown(texts.predictions(point))[0])
    )
    # Without an interval (nothing was held out), the value as before.
    bare = {**payload, "predictions": [{"inputs": [1.0], "names": ["x"], "value": 93.3333}]}
    assert "x = 1 → Цена = 93,3333" in shown(texts.predictions(bare))[0]


def test_dates_are_said_the_way_the_table_wrote_them() -> None:
    # A table of 31.12.2024 dates gets its fills, ranges and /predict examples days first,
    # which /predict reads back the same way; a table of ISO dates keeps ISO.
    assert Column("when", "date", day_first=True).value_text(2024.5) == "02.07.2024"
    assert Column("when", "date", day_first=False).value_text(2024.5) == "2024-07-02"
    assert Column("when", "date", day_first=True).value_text(2024.501) == "02.07.2024 08:47"
    assert Column("area", "number", decimal=",").value_text(50.5) == "50,5"
