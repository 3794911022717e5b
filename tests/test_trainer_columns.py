"""Tables as people have them: column roles, gaps, "$1,200", dates, workbooks, named inputs.

Every table here is written by the test. Each one either parses into numbers the network can
take (and the notes say what was done with each column that was no plain number), or gets one
clear sentence. No Keras: these are the checks the bot runs on uploads and /predict.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.workbooks import lying_zip_bomb, xlsx, zip_bomb
from trainer import words
from trainer.errors import PredictError
from trainer.limits import Limits
from trainer.tables.categories import MAX_LEVELS
from trainer.tables.columns import CellError, ColumnPlan
from trainer.tables.dataset import Dataset, DatasetError, input_cells, read_dataset, read_table
from trainer.tables.dates import read_dates
from trainer.tables.inputs import check_rows, example, parse_inputs, rows_of
from trainer.tables.numeric import lenient_number, read_numbers

REGIONS = ["north", "south", "east", "west"]


def _csv(header: str, rows: list[str]) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def insurance(n: int = 60) -> bytes:
    """id, a date, a category, a number with gaps, money, free text, and charges with gaps."""
    rows = []
    for i in range(n):
        age = "" if i % 9 == 0 else str(20 + i % 40)
        charges = "" if i % 17 == 5 else f"{100 + 3 * (20 + i % 40) + 10 * (i % 4)}"
        rows.append(
            f"{i},2024-{1 + i % 12:02d}-{1 + i % 28:02d},{REGIONS[i % 4]},{age},"
            f'"${1000 + 37 * i:,}",note {i},{charges}'
        )
    return _csv("id,when,region,age,income,note,charges", rows)


# -- numbers as people write them --------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "decimal_comma", "value"),
    [
        ("1,234.5", False, 1234.5),
        ("$1,200", False, 1200.0),
        ("12%", False, 12.0),
        ("-$3.50", False, -3.5),
        ("(1,200)", False, -1200.0),
        ("1 234 567", False, 1234567.0),
        ("EUR 5", False, 5.0),
        ("1.234,5", True, 1234.5),
        ("1.200 €", True, 1200.0),
        ("12,5 %", True, 12.5),
        ("1'000", False, 1000.0),
    ],
)
def test_lenient_numbers(cell: str, decimal_comma: bool, value: float) -> None:
    assert lenient_number(cell, decimal_comma) == value


@pytest.mark.parametrize("cell", ["1,5", "1,23", "12,34,5", "$", "%", "abc", "1.2.3", "$5$", "--5"])
def test_what_is_no_number(cell: str) -> None:
    assert lenient_number(cell, False) is None


def test_thousands_currency_and_percent_train_as_numbers() -> None:
    rows = [f'"{1000 + i:,}.5","${200 * i:,}",{i}%,{3 * i + 1}' for i in range(12)]
    dataset = read_dataset(_csv("area,price,rate,y", rows))
    assert dataset.feature_names == ["area", "price", "rate"]
    np.testing.assert_array_equal(dataset.features[11], [1011.5, 2200.0, 11.0])
    assert 'area: read "1,000.5" as 1000.5' in words.column_notes(dataset.notes)
    assert 'price: read "$0" as 0' in words.column_notes(dataset.notes)
    # The target may carry the same signs.
    money = read_dataset(_csv("x,y", [f'{i},"${i * 1000:,}"' for i in range(12)]))
    assert money.target[5] == 5000.0


# -- roles --------------------------------------------------------------------------------


def test_column_roles_are_decided_and_said() -> None:
    dataset = read_dataset(insurance())
    plan = dataset.plan
    assert plan is not None
    roles = {column.name: (column.role, column.reason) for column in plan.columns}
    assert roles == {
        "id": ("ignored", "id"),
        "when": ("date", ""),
        "region": ("category", ""),
        "age": ("number", ""),
        "income": ("number", ""),
        "note": ("ignored", "id"),
    }
    assert dataset.input_names == ["when", "region", "age", "income"]
    assert dataset.feature_names == [
        "when_year",
        "when_weekday",
        "region=north",
        "region=south",
        "region=east",
        "region=west",
        "age",
        "age_missing",
        "income",
    ]
    assert dataset.features.shape == (dataset.n_rows, 9) and np.isfinite(dataset.features).all()
    assert words.column_notes(dataset.notes) == [
        "charges: 4 rows without a value dropped",
        "id: ignored (a row number or id)",
        "when: a date, used as year and day of week",
        "region: a category, one column for each of 4 values",
        "age: 7 empty cells filled with the median 34 (and marked)",
        'income: read "$1,000" as 1000',
        "note: ignored (a different value in every row)",
    ]
    summary = dataset.summary()
    assert summary["feature_names"] == dataset.input_names and summary["n_rows"] == 56
    assert summary["predict_example"] == "when=2024-06-26 region=north age=34 income=2091.5"


def test_gaps_are_filled_with_the_median_and_marked() -> None:
    rows = [f"{'' if i in (2, 5) else i},{2 * i}" for i in range(12)]
    dataset = read_dataset(_csv("x,y", rows))
    assert dataset.feature_names == ["x", "x_missing"]
    median = float(np.median([i for i in range(12) if i not in (2, 5)]))
    np.testing.assert_array_equal(dataset.features[2], [median, 1.0])
    np.testing.assert_array_equal(dataset.features[3], [3.0, 0.0])


def test_rows_without_a_target_are_dropped_until_too_few_are_left() -> None:
    rows = [f"{i},{'' if i % 4 == 0 else i * 2}" for i in range(16)]
    dataset = read_dataset(_csv("x,y", rows))
    assert dataset.n_rows == 12
    assert words.column_notes(dataset.notes)[0] == "y: 4 rows without a value dropped"
    with pytest.raises(DatasetError, match=r'Only 9 rows have a value in column "y" \(3 empty\)'):
        read_dataset(_csv("x,y", [f"{i},{'' if i % 4 == 0 else i}" for i in range(12)]))


def test_categories_keep_every_level_up_to_the_cap_and_pool_the_rarest() -> None:
    # 40 levels, each seen once or more: every one gets its own column, none is "other".
    rows = [f"city{i % 40},{i}" for i in range(90)]
    dataset = read_dataset(_csv("city,y", rows))
    [column] = dataset.plan.inputs
    assert column.role == "category" and len(column.levels) == 40 and not column.other
    assert words.column_notes(dataset.notes) == [
        "city: a category, one column for each of 40 values"
    ]
    # Past MAX_LEVELS, the rarest are pooled as other, and said.
    many = [f"c{i % 150 if i < 300 else i % 7},{i}" for i in range(400)]
    wide = read_dataset(_csv("city,y", many))
    [column] = wide.plan.inputs
    assert len(column.levels) == MAX_LEVELS and column.other
    assert wide.feature_names[-1] == "city=(other)"
    note = words.column_notes(wide.notes)[0]
    assert (
        note
        == "city: a category, one column for each of 100 values, 50 other values counted as other"
    )
    # Every row is exactly one level (or other).
    np.testing.assert_array_equal(wide.features.sum(axis=1), np.ones(400))


def test_a_category_with_gaps_gets_a_missing_level() -> None:
    rows = [f"{['red', 'blue', ''][i % 3]},{i}" for i in range(12)]
    dataset = read_dataset(_csv("colour,y", rows))
    assert dataset.feature_names == ["colour=red", "colour=blue", "colour=(missing)"]
    np.testing.assert_array_equal(dataset.features[2], [0.0, 0.0, 1.0])
    assert "4 empty cells as their own value" in words.column_notes(dataset.notes)[0]


def test_free_text_and_constants_are_ignored() -> None:
    rows = [f"{i},same,{'word' if i < 3 else f'w{i}'},{i}" for i in range(12)]
    dataset = read_dataset(_csv("a,const,words,y", rows))
    assert dataset.input_names == ["a"]
    assert words.column_notes(dataset.notes) == [
        'const: ignored (always "same")',
        "words: ignored (an id or free text: 10 different values in 12 rows)",
    ]


def test_dates_become_year_fraction_weekday_and_hour() -> None:
    stamps = [dt.datetime(2024, 1, 1) + dt.timedelta(hours=7 * i) for i in range(20)]
    rows = [f"{stamp:%d.%m.%Y %H:%M},{i}" for i, stamp in enumerate(stamps)]
    dataset = read_dataset(_csv("when,y", rows))
    assert dataset.feature_names == ["when_year", "when_weekday", "when_hour"]
    # Years count from the first of January of the earliest year (2024).
    first, second = dataset.features[0], dataset.features[1]
    np.testing.assert_allclose(first, [0.0, 0.0, 0.0])  # 1 January 2024 was a Monday
    np.testing.assert_allclose(second, [7 / 24 / 366, 0.0, 7.0])
    assert dataset.plan.inputs[0].origin == 2024.0
    # Monthly data: the weekday means nothing, so it is left out.
    monthly = read_dataset(_csv("month,y", [f"2024-{m:02d}-01,{m}" for m in range(1, 13)]))
    assert monthly.feature_names == ["month_year"]


def test_day_and_month_order_is_decided_per_column() -> None:
    us = read_dates(pd.Series(["03/04/2026", "12/25/2026"]))
    europe = read_dates(pd.Series(["03/04/2026", "25/12/2026"]))
    assert not us.day_first and europe.day_first
    assert us.year[0] > 2026.16 and europe.year[0] > 2026.25  # 4 March against 3 April


def test_x_chooses_columns_that_would_be_ignored() -> None:
    rows = [f"{i},name{i},{2 * i}" for i in range(12)]
    dataset = read_dataset(_csv("id,name,y", rows), x=["ID", "name"])
    roles = [(c.name, c.role) for c in dataset.plan.columns]
    assert roles == [("id", "number"), ("name", "category")]
    with pytest.raises(DatasetError, match='Column "e" has no values'):
        read_dataset(_csv("e,y", [f",{i}" for i in range(12)]), x=["e"])


def test_a_text_target_too_thin_for_classes_gets_one_sentence() -> None:
    rows = [f"{i},{REGIONS[i % 4]}" for i in range(12)]
    with pytest.raises(DatasetError) as caught:
        read_dataset(_csv("x,region", rows))
    assert str(caught.value) == (
        'Class "east" of column "region" has only 3 rows; I need at least 5 of each class to '
        "learn it and test it. Add rows, merge the class with another, or remove its rows."
    )
    with pytest.raises(DatasetError) as caught:
        read_dataset(_csv("x,region", rows), task="regression")
    assert str(caught.value).startswith(
        'Column "region" holds text like "north", and task=regression predicts numbers'
    )


def test_long_names_are_shortened_once_and_stay_unique() -> None:
    long = "a" * 100
    rows = [f"{i},{i % 3},{i * 2}" for i in range(12)]
    dataset = read_dataset(_csv(f"{long}1,{long}2,y", rows))
    first, second = dataset.input_names
    assert len(first) == len(second) == 64 and first != second and first.endswith("…")
    assert read_dataset(_csv(f"{long}1,{long}2,y", rows), x=[second]).input_names == [second]
    # The full name still finds a shortened column.
    assert read_dataset(_csv(f"{long},b,y", rows), x=[long]).input_names == [first]
    long_target = read_dataset(_csv(f"x,z,{'t' * 300}", rows), y="t" * 300)
    assert len(long_target.target_name) == 64


# -- the plan travels with the model --------------------------------------------------------


def test_the_plan_survives_json_and_encodes_the_training_rows_again() -> None:
    dataset = read_dataset(insurance())
    stored = json.loads(json.dumps({"x_mean": [0.0], "columns": dataset.plan.to_dict()}))
    plan = ColumnPlan.of_model(stored, dataset.feature_names, "charges")
    assert plan == dataset.plan
    table = read_table(insurance())
    keep = np.flatnonzero(table.cells["charges"].str.strip() != "")
    cells, absent = input_cells(table, plan)
    again = plan.encode({k: v.iloc[keep] for k, v in cells.items()}, n_rows=len(keep))
    assert absent == []
    np.testing.assert_array_equal(again.matrix, dataset.features)


def test_the_plan_describes_itself_for_a_caption() -> None:
    assert words.plan_lines(read_dataset(insurance()).plan) == [
        "when: when_year, when_weekday (years since 2024-01-01, Monday 0, hours); "
        "empty: 2024-06-26",
        "region: 1 in region=north, region=south, region=east, region=west for its value "
        "(unseen: all 0)",
        "age: age, age_missing; empty: 34",
        "income: income; empty: 2091.5",
    ]


def test_models_without_a_plan_read_plain_numbers() -> None:
    plan = ColumnPlan.of_model({"x_mean": [1.0, 2.0]}, ["a", "b"], "y", [[0, 1], [2, 3]])
    assert plan.plain and plan.input_names == ["a", "b"]
    assert [(c.low, c.high) for c in plan.columns] == [(0.0, 1.0), (2.0, 3.0)]
    with pytest.raises(CellError, match="This model needs a value for b"):
        plan.encode({"a": pd.Series(["1"]), "b": pd.Series([""])})
    assert Dataset(np.zeros((3, 1)), np.arange(3.0), ["x"], "y").input_names == ["x"]


def test_unseen_categories_count_as_other_or_as_nothing() -> None:
    dataset = read_dataset(insurance())
    plan = dataset.plan
    encoded = plan.encode(
        {"region": pd.Series(["North", "mars", ""]), "age": pd.Series(["30", "", "1,000"])},
        n_rows=3,
    )
    region = [dataset.feature_names.index(f"region={r}") for r in REGIONS]
    np.testing.assert_array_equal(encoded.matrix[:, region], [[1, 0, 0, 0], [0, 0, 0, 0], [0] * 4])
    assert list(encoded.unseen["region"]) == [False, True, False]
    age = dataset.feature_names.index("age")
    np.testing.assert_array_equal(encoded.matrix[:, age], [30.0, 34.0, 1000.0])
    assert list(encoded.filled["when"]) == [True, True, True]


# -- what people type after /predict -----------------------------------------------------


def test_named_inputs_in_any_case_and_the_rest_filled_later() -> None:
    plan = read_dataset(insurance()).plan
    rows = parse_inputs(["AGE=50", "Region=north", 'income="$2,000"'], plan)
    assert rows == [{"age": "50", "region": "north", "income": "$2,000"}]
    two = parse_inputs(["age=50", "region=south;", "age=60", "when=2024-03-01"], plan)
    assert two == [{"age": "50", "region": "south"}, {"age": "60", "when": "2024-03-01"}]
    assert example(plan) == "when=2024-06-26 region=north age=34 income=2091.5"


@pytest.mark.parametrize(
    ("tokens", "message"),
    [
        (["bmi=32"], 'This model has no input "bmi"; its inputs are: when, region, age, income.'),
        (["age=50", "50"], "Please write every input as name=value"),
        (["age=1", "AGE=2"], "age is given twice."),
        (["age=fifty"], 'age must be a number, not "fifty".'),
        (["when=soon"], 'when must be a date like 2026-01-31, not "soon".'),
        (["age=inf"], "age must be a finite number"),
        (["1", "north", "30"], "This model needs 4 values per prediction"),
        ([], "Give at least one value"),
    ],
)
def test_named_inputs_that_do_not_fit_are_refused(tokens: list[str], message: str) -> None:
    plan = read_dataset(insurance()).plan
    with pytest.raises(PredictError) as caught:
        parse_inputs(tokens, plan)
    assert message in str(caught.value)


def test_bare_values_still_work_in_column_order() -> None:
    plan = ColumnPlan.numeric(["a", "b"])
    assert parse_inputs(["1", "2,3;4"], plan) == [{"a": "1", "b": "2"}, {"a": "3", "b": "4"}]
    assert rows_of([1.0, 2.0], plan) == [{"a": "1.0", "b": "2.0"}]
    assert rows_of([[1, 2]], plan) == [{"a": "1", "b": "2"}]
    with pytest.raises(PredictError, match="at most 3 at once"):
        parse_inputs(["1", "2", "3", "4"], plan, Limits(max_predict_values=3))
    # A model's own unused columns (an id) are known names, not typos.
    insurance_plan = read_dataset(insurance()).plan
    check_rows(parse_inputs(["id=5", "age=3"], insurance_plan), insurance_plan)


# -- Excel --------------------------------------------------------------------------------


def workbook_rows(n: int = 20) -> list[list[object]]:
    return [["day", "shop", "sales"]] + [
        [dt.date(2025, 1, 1) + dt.timedelta(days=i), ["A", "B"][i % 2], 10.5 * i + (i % 2)]
        for i in range(n)
    ]


def test_a_workbook_reads_like_the_same_csv() -> None:
    from_xlsx = read_dataset(xlsx(workbook_rows()))
    lines = [f"{d.isoformat()},{s},{v!r}" for d, s, v in workbook_rows()[1:]]
    from_csv = read_dataset(_csv("day,shop,sales", lines))
    assert (
        from_xlsx.feature_names
        == from_csv.feature_names
        == [
            "day_year",
            "day_weekday",
            "shop=A",
            "shop=B",
        ]
    )
    np.testing.assert_array_equal(from_xlsx.features, from_csv.features)
    np.testing.assert_array_equal(from_xlsx.target, from_csv.target)


def test_a_sheet_is_chosen_by_name_or_number() -> None:
    other = [["x", "y"]] + [[i, 3 * i] for i in range(12)]
    data = xlsx(workbook_rows(), sheets={"Second Sheet": other})
    for sheet in ("second sheet", "Second_Sheet", "2"):
        assert read_dataset(data, sheet=sheet).feature_names == ["x"]
    with pytest.raises(DatasetError, match='no sheet named "Third"; the sheets are: Data, Second'):
        read_dataset(data, sheet="Third")


def test_sheet_row_numbers_and_blank_rows() -> None:
    rows = [[None, None], ["x", "y"], *[[i, i] for i in range(12)], [None, None], [3, "oops"]]
    rows += [[i, i] for i in range(5)]
    with pytest.raises(DatasetError, match='not a number in row 16: "oops"'):
        read_dataset(xlsx(rows))


def test_zip_bombs_are_refused_before_they_unpack() -> None:
    with pytest.raises(DatasetError, match=r"unpacks to 125\.8 MB, over the 100\.0 MB I open"):
        read_dataset(zip_bomb())
    with pytest.raises(DatasetError, match="over the 10 kB I open"):
        read_dataset(xlsx(workbook_rows(200)), limits=Limits(max_unzipped_bytes=10_000))
    with pytest.raises(DatasetError, match="can't open it"):
        read_dataset(lying_zip_bomb())


# -- nothing crashes ----------------------------------------------------------------------

CELLS = st.sampled_from(
    ["", "NA", "1", "2.5", "-3", "1,234.5", "$1,200", "12%", "(5)", "2024-01-31", "31.12.2024",
     "north", "South", "x y", "=A1", "inf", "1e999", "€", "12:30", "TRUE", "#DIV/0!", "🙂"]
)  # fmt: skip


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.lists(CELLS, min_size=3, max_size=3), min_size=1, max_size=30),
    st.sampled_from([",", ";", "\t"]),
    st.booleans(),
)
def test_messy_tables_give_a_dataset_or_a_sentence(
    rows: list[list[str]], sep: str, as_workbook: bool
) -> None:
    if as_workbook:
        data = xlsx([["a", "b", "y"], *rows])
    else:
        quoted = [sep.join(f'"{cell}"' for cell in row) for row in rows]
        data = (sep.join(["a", "b", "y"]) + "\n" + "\n".join(quoted) + "\n").encode()
    try:
        dataset = read_dataset(data, limits=Limits(min_rows=1))
    except DatasetError as error:
        assert str(error).endswith(".") and "\n" not in str(error)
        return
    assert np.isfinite(dataset.features).all() and np.isfinite(dataset.target).all()
    assert dataset.features.shape == (dataset.n_rows, len(dataset.feature_names))
    ColumnPlan.from_dict(json.loads(json.dumps(dataset.plan.to_dict())))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=12), max_size=8))
def test_any_prediction_tokens_give_rows_or_a_sentence(tokens: list[str]) -> None:
    plan = read_dataset(insurance()).plan
    try:
        rows = parse_inputs(tokens, plan)
    except PredictError as error:
        assert str(error)
    else:
        assert plan.encode(
            {k: pd.Series([r.get(k, "") for r in rows]) for k in plan.input_names},
            n_rows=len(rows),
        ).matrix.shape == (len(rows), len(plan.feature_names))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=10), min_size=1, max_size=5))
def test_reading_numbers_never_raises(cells: list[str]) -> None:
    numbers = read_numbers(pd.Series(cells))
    assert not (numbers.missing & numbers.bad).any()
    assert np.isnan(numbers.values[numbers.missing | numbers.bad]).all()
    read_dates(pd.Series(cells))
