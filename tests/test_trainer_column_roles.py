"""What the network gets from each column: every category level it saw, dates to the second,
a few hundred inputs, and words among numbers as gaps.

Tables written by the test in the shapes real ones have: a city column of 46 levels, 93 cars of
32 makes with a "rotary" among the cylinder counts, hourly dates in 2024, 86 and 300 columns.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest

from trainer import words
from trainer.errors import DatasetError, PredictError
from trainer.limits import Limits
from trainer.tables.columns import ColumnPlan
from trainer.tables.dataset import input_cells, read_dataset, read_table
from trainer.tables.inputs import cells_of, check_rows, parse_inputs

CITIES = [f"City{i:02d}" for i in range(46)]


def _csv(header: str, rows: list[str]) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def test_a_46_level_city_keeps_every_level_and_predict_knows_them_all() -> None:
    rng = np.random.default_rng(0)
    cities = rng.choice(CITIES, size=300, p=np.linspace(1, 3, 46) / np.linspace(1, 3, 46).sum())
    rows = [f"{city},{50 + i % 40},{100 * CITIES.index(city) + i % 40}" for i, city in
            enumerate(cities)]  # fmt: skip
    dataset = read_dataset(_csv("city,area,price", rows))
    city = dataset.plan.inputs[0]
    assert set(city.levels) == set(cities) and not city.other
    assert words.column_notes(dataset.notes) == [
        f"city: a category, one column for each of {len(set(cities))} values"
    ]
    for name in set(cities):
        rows_in = parse_inputs([f"city={name}", "area=60"], dataset.plan)
        encoded = dataset.plan.encode(cells_of(rows_in, dataset.plan), n_rows=1)
        assert not encoded.unseen["city"][0], name


def test_small_tables_keep_levels_seen_once_and_ignore_columns_of_names() -> None:
    # 93 cars of 32 makes (three seen once) and a model name of their own each.
    makes = [f"Make{i % 29}" for i in range(90)] + ["Solo1", "Solo2", "Solo3"]
    rows = [f"{make},{make}-{i},{4 + i % 3},{15 + (i * 7) % 30}" for i, make in enumerate(makes)]
    dataset = read_dataset(_csv("Manufacturer,Model,Cylinders,Price", rows))
    make = dataset.plan.inputs[0]
    assert make.role == "category" and len(make.levels) == 32 and not make.other
    assert {"Solo1", "Solo2", "Solo3"} <= set(make.levels)
    assert dataset.input_names == ["Manufacturer", "Cylinders"]
    assert "Model: ignored (a different value in every row)" in words.column_notes(dataset.notes)
    # Mostly names of their own, a few repeated: an id or free text still.
    names = [f"name{i}" if i % 10 else "same" for i in range(60)]
    mostly = read_dataset(_csv("who,x,y", [f"{n},{i},{2 * i}" for i, n in enumerate(names)]))
    assert mostly.input_names == ["x"]
    assert "who: ignored (an id or free text: 55 different values in 60 rows)" in (
        words.column_notes(mostly.notes)
    )


def test_categories_pool_their_rarest_levels_to_keep_the_features_within_the_budget() -> None:
    rows = [f"c{i % 40},k{i % 6},{i % 7},{i}" for i in range(400)]
    limits = Limits(max_features=20)
    dataset = read_dataset(_csv("city,kind,n,y", rows), limits=limits)
    assert len(dataset.feature_names) <= 20
    city, kind, _ = dataset.plan.inputs
    assert len(kind.levels) == 6 and city.other and len(city.levels) == 20 - 6 - 1 - 1
    assert (
        "city: a category, one column for each of 12 values, 28 other values counted as other "
        "(to keep the inputs within the limit)"
    ) in words.column_notes(dataset.notes)
    with pytest.raises(DatasetError, match="with this many rows I take at most 2"):
        read_dataset(_csv("a,b,c,y", [f"{i},{i % 3},{i % 5},{i}" for i in range(20)]),
                     limits=Limits(max_features=2))  # fmt: skip


def test_dates_keep_the_second_in_float32() -> None:
    stamps = pd.date_range("2024-03-01", periods=200, freq="37min")
    rows = [f"{stamp:%Y-%m-%d %H:%M},{i}" for i, stamp in enumerate(stamps)]
    dataset = read_dataset(_csv("when,y", rows))
    [when] = dataset.plan.inputs
    year = dataset.features[:, dataset.feature_names.index("when_year")]
    # What a saved .keras model sees is float32: the error stays under a second.
    seconds_per_year = 366 * 86400
    error = np.abs(year.astype(np.float32).astype(np.float64) - year) * seconds_per_year
    assert error.max() < 1.0
    assert when.origin == 2024.0 and year.max() < 1.0
    # As a year fraction the error was over half an hour.
    absolute = year + when.origin
    old_error = np.abs(absolute.astype(np.float32).astype(np.float64) - absolute)
    assert old_error.max() * seconds_per_year > 1800


def test_plans_stored_before_decimal_marks_and_origins_still_read() -> None:
    stored = {
        "version": 1,
        "target": "y",
        "columns": [
            {"name": "when", "role": "date", "reason": "", "fill": 2024.5, "indicator": False,
             "low": 2024.0, "high": 2025.0, "levels": [], "other": False,
             "missing_level": False, "parts": ["year"], "day_first": False},
            {"name": "price", "role": "number", "reason": "", "fill": 3.0, "indicator": False,
             "low": 1.0, "high": 5.0, "levels": [], "other": False, "missing_level": False,
             "parts": [], "day_first": False},
        ],
    }  # fmt: skip
    plan = ColumnPlan.from_dict(json.loads(json.dumps(stored)))
    encoded = plan.encode(
        {"when": pd.Series(["2024-07-02"]), "price": pd.Series(["2,5"])},
        n_rows=1,
        decimal_comma=True,
    )
    # The year fraction as those models learned it, and the file's own decimal mark.
    assert encoded.matrix[0, 0] == pytest.approx(2024 + 183 / 366)
    assert encoded.matrix[0, 1] == 2.5
    assert ColumnPlan.from_dict(plan.to_dict()) == plan


@pytest.mark.parametrize("width", [86, 300])
def test_wide_tables_train_on_every_column(width: int) -> None:
    rng = np.random.default_rng(width)
    values = rng.normal(size=(40, width))
    header = ",".join(f"f{i}" for i in range(width - 1)) + ",target"
    rows = [",".join(f"{v:.4f}" for v in row) for row in values]
    dataset = read_dataset(_csv(header, rows))
    assert len(dataset.input_names) == width - 1
    assert dataset.features.shape == (40, width - 1)
    # The bot checks /predict in its event loop: only the columns given are read.
    tokens = [f"f{i}=1,5" for i in range(50)]
    started = time.perf_counter()
    check_rows(parse_inputs(tokens, dataset.plan), dataset.plan)
    assert time.perf_counter() - started < 0.5
    with pytest.raises(PredictError, match='f7 must be a number, not "x"'):
        parse_inputs(["f7=x"], dataset.plan)


CARS = [str(4 + (i * 5) % 3 * 2) for i in range(93)]


def cars(cylinders: list[str]) -> bytes:
    return _csv(
        "Cylinders,EngineSize,Price",
        [f"{c},{1.5 + i % 20 / 10:.1f},{10 + i % 40}" for i, c in enumerate(cylinders)],
    )


def test_a_word_among_numbers_is_a_gap_said_and_kept_for_predict() -> None:
    with_rotary = [*CARS[:56], "rotary", *CARS[57:]]
    dataset = read_dataset(cars(with_rotary))
    [cylinders, _] = dataset.plan.inputs
    assert cylinders.role == "number" and cylinders.gap_words == ("rotary",)
    assert dataset.feature_names[:2] == ["Cylinders", "Cylinders_missing"]
    assert dataset.features[56, 1] == 1.0 and dataset.features[56, 0] == cylinders.fill
    [note] = words.column_notes(dataset.notes)
    assert note == (
        f'Cylinders: "rotary" is not a number, so it counts as empty; 1 empty cell filled with '
        f"the median {cylinders.fill:g} (and marked)"
    )
    plan = dataset.plan
    rows = parse_inputs(["Cylinders=Rotary", "EngineSize=1.3"], plan)
    assert plan.encode(cells_of(rows, plan), n_rows=1).filled["Cylinders"][0]
    with pytest.raises(PredictError, match='Cylinders must be a number, not "diesel"'):
        parse_inputs(["Cylinders=diesel"], plan)
    table = read_table(b"Cylinders,EngineSize\nrotary,1.3\n6,3.0\n", min_columns=1)
    cells, _ = input_cells(table, plan)
    assert list(plan.encode(cells, n_rows=2).filled["Cylinders"]) == [True, False]


def test_gap_markers_among_numbers_are_gaps_however_often_they_come() -> None:
    marked = ["?" if i % 8 == 0 else c for i, c in enumerate(CARS)]
    dataset = read_dataset(cars(marked))
    assert dataset.plan.inputs[0].gap_words == ("?",)
    assert (
        '"?" and 11 other cells that are not a number count as empty'
        in (words.column_notes(dataset.notes)[0])
    )


def test_many_different_words_among_numbers_are_refused_in_one_sentence() -> None:
    words_in = [f"word{i}" if i % 9 == 0 else c for i, c in enumerate(CARS)]
    with pytest.raises(DatasetError) as caught:
        read_dataset(cars(words_in))
    assert str(caught.value) == (
        'Column "Cylinders" is mostly numbers but has 11 cells that are not, like "word0" in '
        "row 2; please fix them or leave them empty."
    )
