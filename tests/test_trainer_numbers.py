"""Numbers as Europe and America write them, read one way per column, and never slowly.

Every table here is a real file written by the test: German and Russian semicolon CSVs with
thousands dots and decimal commas, American ones with thousands commas. A column's cells settle
its decimal mark, else the table's other columns do, else its delimiter; the plan keeps the
mark, so /predict and files of inputs read numbers the way the training table wrote them.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trainer import words
from trainer.errors import PredictError
from trainer.limits import Limits
from trainer.tables.dataset import read_dataset, read_table
from trainer.tables.dates import read_dates
from trainer.tables.inputs import parse_inputs, rows_of
from trainer.tables.numeric import both_ways, is_number, looks_like_data, read_numbers
from trainer.tables.selection import input_cells


def _semicolons(header: str, rows: list[str], encoding: str = "utf-8") -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode(encoding)


def flats(n: int = 30) -> list[tuple[int, float, int]]:
    """Area in m² (thousands when large), price in euro, rooms."""
    return [(40 + 37 * i, 1_000.0 + 1_234.5 * i, 1 + i % 4) for i in range(n)]


def german(value: float, decimals: int = 0) -> str:
    """1234.5 as a German spreadsheet writes it: 1.234,5."""
    text = f"{value:,.{decimals}f}"
    return text.replace(",", "_").replace(".", ",").replace("_", ".")


# -- one way per column ----------------------------------------------------------------------


def test_a_thousands_dot_and_a_decimal_comma_in_one_column_are_read_alike() -> None:
    # Whole numbers with a thousands dot (1.200) beside one with a decimal comma (1.234,5).
    cells = pd.Series(["1.200", "1.234,5", "25.000", "900", "3.000"])
    numbers = read_numbers(cells, hint=".")
    np.testing.assert_array_equal(numbers.values, [1200, 1234.5, 25000, 900, 3000])
    assert numbers.decimal == "," and not numbers.bad.any()
    assert numbers.example == "1.200"


def test_a_german_csv_of_mostly_whole_numbers_with_thousands_dots_trains() -> None:
    rows = [f"{german(a)};{german(p, 1 if i % 7 == 3 else 0)};{r}" for i, (a, p, r) in
            enumerate(flats())]  # fmt: skip
    data = _semicolons("Fläche;Preis;Zimmer", rows, "cp1252")
    dataset = read_dataset(data, y="Preis")
    assert dataset.input_names == ["Fläche", "Zimmer"] and dataset.target_name == "Preis"
    expected = [a for a, _, _ in flats()]
    np.testing.assert_array_equal(dataset.features[:, 0], expected)
    price = [p if i % 7 == 3 else round(p) for i, (_, p, _) in enumerate(flats())]
    np.testing.assert_allclose(dataset.target, price)
    # Below 1.002 m² no cell of the area shows its mark; the prices' decimal commas settle it.
    price, area = words.column_notes(dataset.notes)
    assert price == 'Preis: read "1.000" as 1000'
    assert area.startswith('Fläche: read "1.002" as 1002 (a guess: the table uses a decimal comma')


def test_a_column_no_cell_settles_takes_the_tables_mark_and_says_so() -> None:
    # Every price is 1.200-like: a thousands dot or a decimal point? The other column's 2,5
    # settles the table's mark (a comma), and the note says the price was read by it.
    rows = [f"{i},5;{1 + i % 9}.{100 * (i % 9 + 1):03d}" for i in range(20)]
    dataset = read_dataset(_semicolons("Zimmer;Preis", rows))
    np.testing.assert_array_equal(dataset.features[:3, 0], [0.5, 1.5, 2.5])
    assert dataset.target[0] == 1100.0
    # Without the other column the delimiter decides; a comma file's mark is a point.
    alone = read_dataset(_semicolons("a;Preis", [f"{i};1.{i:03d}" for i in range(20)]))
    assert alone.target[5] == 1005.0
    assert "a guess: the table uses a decimal comma" in words.column_notes(alone.notes)[0]
    comma_file = read_dataset(
        ("a,b,y\n" + "".join(f'{i},"1,{i:03d}",{i}\n' for i in range(20))).encode()
    )
    assert comma_file.features[5, 1] == 1005.0


def test_other_columns_settle_a_point_in_a_semicolon_file() -> None:
    rows = [f"{i + 0.25};1.{i:03d};{i}" for i in range(20)]
    dataset = read_dataset(_semicolons("a;b;y", rows))
    # 0.25, 1.25 ... settle a point; so 1.005 is one and five thousandths.
    assert dataset.features[5, 1] == pytest.approx(1.005)


def test_the_american_way_is_unchanged() -> None:
    rows = [f'"{1000 + 37 * i:,}.5","${200 * i:,}",{3 * i}' for i in range(12)]
    dataset = read_dataset(("area,price,y\n" + "\n".join(rows) + "\n").encode())
    np.testing.assert_array_equal(dataset.features[11], [1407.5, 2200.0])


# -- later inputs are read as the table wrote them ---------------------------------------------


def russian_flats() -> bytes:
    rows = [
        f"{['Центр', 'Север', 'Юг'][i % 3]};{40 + i},{i % 10};{(3 + i % 5)}.{i:03d}"
        f";{(dt.date(2024, 1, 1) + dt.timedelta(days=7 * i)):%d.%m.%Y};{5_000 + 120 * i}"
        for i in range(40)
    ]
    return _semicolons("Район;Площадь;Этаж;Дата;Цена", rows, "cp1251")


def test_predict_reads_decimal_commas_and_day_first_dates_as_the_table_wrote_them() -> None:
    plan = read_dataset(russian_flats()).plan
    area = next(c for c in plan.inputs if c.name == "Площадь")
    assert area.decimal == ","
    rows = parse_inputs(["Площадь=50,5", "Дата=31.12.2024", "Этаж=3.500"], plan)
    encoded = plan.encode({k: pd.Series([v]) for k, v in rows[0].items()}, n_rows=1)
    assert encoded.values["Площадь"][0] == 50.5
    assert encoded.values["Этаж"][0] == 3500.0  # a thousands dot, as in the table
    assert encoded.values["Дата"][0] == pytest.approx(2024 + 365 / 366)
    # Bare values: a comma is a decimal mark here, not a separator.
    [bare] = parse_inputs(["Юг", "50,5", "3", "01.02.2024"], plan)
    assert bare == {"Район": "Юг", "Площадь": "50,5", "Этаж": "3", "Дата": "01.02.2024"}
    # Values a program gives are written with the column's mark.
    [given_row] = rows_of([["Юг", 50.5, 1.234, "01.02.2024"]], plan)
    assert given_row["Площадь"] == "50,5" and given_row["Этаж"] == "1,234"
    with pytest.raises(PredictError, match=r"Дата must be a date like 31\.01\.2026"):
        parse_inputs(["Дата=soon"], plan)


def test_a_table_of_inputs_in_cp1251_is_read_like_the_training_table() -> None:
    plan = read_dataset(russian_flats()).plan
    inputs = _semicolons("Район;Площадь;Дата", ["Север;61,5;15.03.2025", "Юг;1.050;"], "cp1251")
    table = read_table(inputs, min_columns=1)
    cells, absent = input_cells(table, plan)
    assert absent == ["Этаж"]
    encoded = plan.encode(cells, n_rows=table.n_rows, decimal_comma=table.decimal_comma)
    np.testing.assert_array_equal(encoded.values["Площадь"], [61.5, 1050.0])
    assert list(encoded.unseen["Район"]) == [False, False]
    assert list(encoded.filled["Дата"]) == [False, True]


def test_dates_of_an_iso_table_accept_any_unambiguous_order_at_predict() -> None:
    rows = [f"{dt.date(2024, 1, 1) + dt.timedelta(days=5 * i)},{i}" for i in range(20)]
    plan = read_dataset(("day,y\n" + "\n".join(rows) + "\n").encode()).plan
    [day] = plan.inputs
    assert day.day_first is None
    encoded = plan.encode({"day": pd.Series(["31.12.2024", "2024-12-31"])}, n_rows=2)
    assert encoded.values["day"][0] == encoded.values["day"][1]


# -- never slow, never a crash ---------------------------------------------------------------

FREEZING = [
    "1" * 12_000 + "a",
    "1" * 100_000 + "a",
    "1," * 20_000 + "x",
    "$" + " " * 50_000 + "1",
    "(" * 30_000 + "1" + ")" * 30_000,
    "1.2" * 20_000 + "%",
    "31.12." + "2" * 50_000,
]


@pytest.mark.parametrize("cell", FREEZING, ids=lambda cell: f"{cell[:6]!r}x{len(cell)}")
def test_cells_that_froze_the_bot_are_read_at_once(cell: str) -> None:
    started = time.perf_counter()
    assert np.isnan(both_ways(cell)).all() and not is_number(cell)
    assert not looks_like_data(cell)
    numbers = read_numbers(pd.Series([cell, "5"]))
    assert numbers.bad[0] and numbers.values[1] == 5
    assert read_dates(pd.Series([cell])).bad[0]
    assert time.perf_counter() - started < 0.5


def test_a_file_with_a_freezing_cell_is_refused_at_once() -> None:
    data = b"x,y\n" + b"".join(f"{i},{i}\n".encode() for i in range(12))
    data += b"1," + b"1" * 100_000 + b"a\n"
    started = time.perf_counter()
    with pytest.raises(ValueError, match='not a number in row 14: "1111'):
        read_dataset(data, limits=Limits())
    assert time.perf_counter() - started < 2.0  # was minutes (12 KB: 30 s on this machine)


CELL_PARTS = st.sampled_from(
    ["1", "12", "123", "1234", ".", ",", " ", "'", "$", "€", "EUR", "%", "-", "+", "(", ")",
     "e", "E", "a", "\u00a0", "..", ",,", "0", "9" * 50, "nan", "inf"]
)  # fmt: skip
CELLS = st.one_of(
    st.text(max_size=200),
    st.lists(CELL_PARTS, max_size=60).map("".join),
    st.builds(lambda n, tail: "1" * n + tail, st.integers(0, 20_000), st.text(max_size=3)),
    st.builds(lambda part, n: part * n, CELL_PARTS, st.integers(1, 5_000)),
)


def fastest(call: Callable[[], object], bound: float) -> float:
    """Seconds ``call`` takes, the least of up to three runs: a shared machine's pauses make
    one run slow now and then, a slow reading makes every run slow."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
        if best <= bound:
            break
    return best


def read_cell(cell: str) -> None:
    point, _ = both_ways(cell)
    assert np.isnan(point) or isinstance(point, float)
    looks_like_data(cell)
    is_number(cell)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(CELLS)
def test_any_cell_is_read_within_50_ms(cell: str) -> None:
    assert fastest(lambda: read_cell(cell), 0.05) <= 0.05


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(CELLS, min_size=1, max_size=20))
def test_any_column_is_read_one_way_within_200_ms(cells: list[str]) -> None:
    assert fastest(lambda: read_dates(pd.Series(cells)), 0.2) <= 0.2
    assert fastest(lambda: read_numbers(pd.Series(cells)), 0.2) <= 0.2
    numbers = read_numbers(pd.Series(cells))
    assert not (numbers.missing & numbers.bad).any()
    assert np.isnan(numbers.values[numbers.missing | numbers.bad]).all()
    again = read_numbers(pd.Series(cells), hint=numbers.decimal)
    np.testing.assert_array_equal(again.values, numbers.values)


RUSSIAN_PLAN = read_dataset(russian_flats()).plan


def predict_with(tokens: list[str]) -> None:
    try:
        parse_inputs(tokens, RUSSIAN_PLAN)
    except PredictError as error:
        assert str(error)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(CELLS, max_size=6))
def test_any_predict_arguments_are_read_within_200_ms(tokens: list[str]) -> None:
    assert fastest(lambda: predict_with(tokens), 0.2) <= 0.2
