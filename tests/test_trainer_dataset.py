"""CSV parsing: accepted formats give the same numbers, bad files get a clear sentence."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trainer.limits import Limits
from trainer.tables.dataset import Dataset, DatasetError, choose_columns, read_dataset, read_table

try:  # works whether or not tests/ is a package
    from tests.badcsv import cases
except ImportError:
    from badcsv import cases  # type: ignore[no-redef]

REFERENCE = Path(__file__).parents[1] / "examples" / "fahrenheit.csv"

X = [0.5, 1.25, -2.0, 3.0, 4.75, 5.0, 6.5, 7.0, 8.25, 9.0, 10.5, 1e3]
Y = [1.5, 2.0, -0.25, 3.5, 4.0, 5.75, 6.0, 7.25, 8.0, 9.5, 10.0, -1e-3]


def _lines(rows: list[str], newline: str = "\n") -> str:
    return newline.join(rows) + newline


def _plain(sep: str = ",", decimal: str = ".", header: bool = True, quote: bool = False) -> str:
    def cell(value: float) -> str:
        text = repr(value).replace(".", decimal)
        return f'"{text}"' if quote else text

    rows = [f"{cell(a)}{sep}{cell(b)}" for a, b in zip(X, Y, strict=True)]
    return _lines(([f"x{sep}y"] if header else []) + rows)


ACCEPTED = {
    "comma": _plain().encode(),
    "crlf": _plain().replace("\n", "\r\n").encode(),
    "cr_only": _plain().replace("\n", "\r").encode(),
    "utf8_bom": b"\xef\xbb\xbf" + _plain().encode(),
    "semicolon": _plain(";").encode(),
    "semicolon_decimal_comma": _plain(";", ",").encode(),
    "tab": _plain("\t").encode(),
    "tab_decimal_comma": _plain("\t", ",").encode(),
    "quoted": _plain(quote=True).encode(),
    "quoted_semicolon_decimal_comma": _plain(";", ",", quote=True).encode(),
    "no_header": _plain(header=False).encode(),
    "utf16_tab": _plain("\t").encode("utf-16"),
    "spaces_after_comma": _plain(", ").encode(),
    "blank_lines": ("\n\n" + _plain().replace("\n", "\n\n")).encode(),
    "uppercase_names": _plain().replace("x,y", "X,Y", 1).encode(),
    "index_column": _lines(
        [",x,y"] + [f"{i},{a!r},{b!r}" for i, (a, b) in enumerate(zip(X, Y, strict=True))]
    ).encode(),
    "target_first": _lines(["y,x"] + [f"{b!r},{a!r}" for a, b in zip(X, Y, strict=True)]).encode(),
    "latin1_extra_column": _lines(
        ["x;y;température"] + [f"{a!r};{b!r};é" for a, b in zip(X, Y, strict=True)]
    ).encode("latin-1"),
    "windows_1252": _lines(
        ["x;y;€"] + [f"{a!r};{b!r};1" for a, b in zip(X, Y, strict=True)]
    ).encode("cp1252"),
}


@pytest.mark.parametrize("case", cases(), ids=lambda case: case.name)
def test_bad_file_gets_its_message(case) -> None:
    with pytest.raises(DatasetError) as caught:
        read_dataset(case.data)
    message = str(caught.value)
    assert case.fragment in message
    assert "\n" not in message and message.endswith(".") and len(message) < 160


def test_corpus_is_big_and_uniquely_named() -> None:
    names = [case.name for case in cases()]
    assert len(names) >= 40 and len(set(names)) == len(names)


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_accepted_formats_give_the_same_numbers(name: str) -> None:
    dataset = read_dataset(ACCEPTED[name])
    # Names keep the file's spelling ("X"); matching x and y ignores case.
    assert [name.lower() for name in dataset.feature_names] == ["x"]
    assert dataset.target_name.lower() == "y"
    assert dataset.features.dtype == np.float64 and dataset.features.shape == (len(X), 1)
    np.testing.assert_array_equal(dataset.features[:, 0], X)
    np.testing.assert_array_equal(dataset.target, Y)


def test_reference_file() -> None:
    dataset = read_dataset(REFERENCE.read_bytes())
    assert dataset.n_rows == 1000
    assert (dataset.feature_names, dataset.target_name) == (["x"], "y")
    assert dataset.features[200, 0] == 200 and dataset.target[200] == 93.33
    assert dataset.feature_ranges() == [(0.0, 999.0)]


def test_no_header_names() -> None:
    three = _lines([f"{i},{i * 2},{i * 3 + 1}" for i in range(12)]).encode()
    dataset = read_dataset(three)
    assert (dataset.feature_names, dataset.target_name) == (["x1", "x2"], "y")
    np.testing.assert_array_equal(dataset.target, [i * 3 + 1 for i in range(12)])


def test_a_column_named_y_is_the_target_and_x_is_an_input_like_any_other() -> None:
    table = _lines(["id,x,note_count,y"] + [f"{i},{i},{i % 3},{i * 2 + i % 3}" for i in range(12)])
    dataset = read_dataset(table.encode())
    # The id is a row counter and ignored (said in the notes); x hides nothing.
    assert (dataset.input_names, dataset.target_name) == (["x", "note_count"], "y")
    assert read_dataset(table.encode(), x=["x"]).input_names == ["x"]


def test_x_y_and_z_beside_other_columns_are_coordinates_not_the_target() -> None:
    # The shape of a table of diamond prices: sizes x, y and z after the price.
    rows = [f"{0.3 + i / 50:.2f},{['Good', 'Ideal'][i % 2]},{300 + 40 * i},{4 + i / 10},"
            f"{4.1 + i / 10},{2.5 + i / 20}" for i in range(30)]  # fmt: skip
    table = _lines(["carat,cut,price,x,y,z", *rows]).encode()
    dataset = read_dataset(table)
    assert dataset.target_name == "price"
    assert dataset.input_names == ["carat", "cut", "x", "y", "z"]
    assert read_dataset(table, y="z").input_names == ["carat", "cut", "price", "x", "y"]
    # x, y and z alone keep y as the target, as do x and y with other columns.
    alone = _lines(["x,y,z"] + [f"{i},{i * 2},{i % 4}" for i in range(12)]).encode()
    assert (read_dataset(alone).input_names, read_dataset(alone).target_name) == (["x", "z"], "y")
    two = _lines(["x,y,t"] + [f"{i},{i * 2},{i % 4}" for i in range(12)]).encode()
    assert read_dataset(two).target_name == "y"


def test_default_columns_without_x_and_y_use_last_as_target() -> None:
    table = _lines(["temp,hum,sales"] + [f"{i},{i % 5},{i * 2 + i % 5}" for i in range(12)])
    dataset = read_dataset(table.encode())
    assert (dataset.feature_names, dataset.target_name) == (["temp", "hum"], "sales")
    assert dataset.features.shape == (12, 2)
    assert dataset.feature_ranges() == [(0.0, 11.0), (0.0, 4.0)]


def test_user_chooses_columns_case_insensitively() -> None:
    table = _lines(["Temp,Hum,Sales,Other"] + [f"{i},{i % 5},{i * 2},{i}" for i in range(12)])
    dataset = read_dataset(table.encode(), x=["temp", "HUM"], y="sales")
    assert (dataset.feature_names, dataset.target_name) == (["Temp", "Hum"], "Sales")


def test_unknown_column_lists_the_available_ones() -> None:
    with pytest.raises(DatasetError, match=r'no column named "price"; the columns are: x, y\.'):
        read_dataset(_plain().encode(), y="price")


def test_column_cannot_be_input_and_target() -> None:
    with pytest.raises(DatasetError, match='Column "x" can\'t be both'):
        choose_columns(["x", "y"], x=["x"], y="x")


def test_row_numbers_count_blank_lines() -> None:
    data = b"\n\r\nx,y\n\n1,2\n2,oops\n" + b"3,4\n" * 10
    with pytest.raises(DatasetError, match="in row 6"):
        read_dataset(data)


def test_single_column_allowed_when_asked() -> None:
    table = read_table(b"x\n1\n2\n3\n", min_columns=1)
    assert table.names == ["x"] and table.n_rows == 3 and table.has_header
    assert list(table.line_numbers) == [2, 3, 4]


def test_limits_are_respected() -> None:
    small = Limits(max_rows=20, max_upload_bytes=10_000, min_rows=3, max_columns=2)
    assert read_dataset(_lines(["x,y", "1,2", "2,3", "3,5"]).encode(), limits=small).n_rows == 3
    with pytest.raises(DatasetError, match="limit of 20"):
        read_dataset(_lines(["x,y"] + ["1,2"] * 25).encode(), limits=small)
    with pytest.raises(DatasetError, match="3 columns; the limit is 2"):
        read_dataset(_lines(["a,b,c"] + ["1,2,3"] * 5).encode(), limits=small)
    with pytest.raises(DatasetError, match="over the 10 kB limit"):
        read_dataset(b"x,y\n" + b"1,2\n" * 3000, limits=small)


def test_dataset_modules_do_not_import_keras() -> None:
    code = (
        "import sys, trainer, trainer.tables.dataset, trainer.params, trainer.limits;"
        "import trainer.learn.recipes, trainer.tables.cells, trainer.tables.columns;"
        "import trainer.tables.roles, trainer.tables.workbook, trainer.tables.delimited;"
        "import trainer.tables.inputs, trainer.errors, trainer.tables.checks, python_calamine;"
        "heavy = {'keras', 'tensorflow', 'jax'} & set(sys.modules);"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_any_bytes_give_a_dataset_or_a_dataset_error(data: bytes) -> None:
    try:
        result = read_dataset(data)
    except DatasetError as error:
        assert str(error)
    else:
        assert isinstance(result, Dataset)


CSVISH = st.text(alphabet="0123456789.,;\t\n\r -+eExyna\"'", max_size=400)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(CSVISH, st.sampled_from(["utf-8", "utf-16", "latin-1"]))
def test_csv_like_text_gives_a_dataset_or_a_dataset_error(text: str, encoding: str) -> None:
    try:
        result = read_dataset(text.encode(encoding), limits=Limits(min_rows=1))
    except DatasetError as error:
        assert str(error)
    else:
        assert np.isfinite(result.features).all() and np.isfinite(result.target).all()
        assert result.features.shape == (result.n_rows, len(result.feature_names))
