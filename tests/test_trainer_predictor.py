"""Saving, loading and predicting: the round trip, range warnings, and CSV predictions."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_trainer_columns import CELLS, insurance
from tests.workbooks import xlsx
from trainer import examples, words
from trainer.learn.fit import Fit
from trainer.learn.training import train
from trainer.model_file import prediction_table as prediction_table_module
from trainer.model_file.keras_file import load_model_bytes, save_model_bytes
from trainer.model_file.predictor import PredictError, Predictor
from trainer.params import TrainParams
from trainer.tables.columns import ColumnPlan
from trainer.tables.dataset import Dataset, DatasetError, read_dataset

REFERENCE = Path(__file__).parents[1] / "examples" / "fahrenheit.csv"


@pytest.fixture(scope="module")
def result() -> Fit:
    return train(read_dataset(REFERENCE.read_bytes()), TrainParams(epochs=30, seed=0))


@pytest.fixture(scope="module")
def predictor(result: Fit) -> Predictor:
    return Predictor(
        save_model_bytes(result),
        result.scaling,
        result.feature_names,
        result.target_name,
        result.feature_ranges,
    )


def test_round_trip_gives_the_same_predictions(result: Fit, predictor: Predictor) -> None:
    values = [0.0, 200.0, 512.5, 999.0]
    loaded = [p.predicted for p in predictor.predict(values)]
    direct = result.predict(np.array(values)[:, None])
    np.testing.assert_allclose(loaded, direct, rtol=1e-6)
    fresh = [p.predicted for p in Predictor.from_result(result).predict(values)]
    np.testing.assert_allclose(fresh, direct, rtol=1e-6)


def test_saved_bytes_are_a_keras_file(result: Fit) -> None:
    data = save_model_bytes(result)
    assert data.startswith(b"PK")  # .keras files are zip archives
    model = load_model_bytes(data)
    assert model.count_params() == result.model.count_params()


def test_one_prediction_per_value(predictor: Predictor) -> None:
    predictions = predictor.predict([1, 2, 3])
    assert [p.values for p in predictions] == [(1.0,), (2.0,), (3.0,)]
    assert [p.value for p in predictions] == [1.0, 2.0, 3.0]
    assert all(isinstance(p.predicted, float) for p in predictions)


def test_warns_far_outside_the_training_range(predictor: Predictor) -> None:
    inside, edge, below, above = predictor.predict([500, 1050, -150, 5000])
    assert inside.warning is None
    assert edge.warning is None  # within 10% of the range beyond the max
    assert "far outside the training range 0 to 999" in below.warning
    assert above.warning.startswith("x = 5000 is far outside")


def test_rejects_bad_inputs(predictor: Predictor) -> None:
    with pytest.raises(PredictError, match="finite"):
        predictor.predict([float("nan")])
    with pytest.raises(PredictError, match="numbers"):
        predictor.predict(["abc"])


def test_several_inputs_take_rows_or_a_flat_list() -> None:
    dataset = read_dataset(examples.big_csv(300, seed=3))
    result = train(dataset, TrainParams(epochs=5, seed=3))
    predictor = Predictor.from_result(result)
    rows = predictor.predict([[1.0, 2.0], [3.0, -1.0]])
    flat = predictor.predict([1.0, 2.0, 3.0, -1.0])
    assert [p.values for p in rows] == [p.values for p in flat] == [(1.0, 2.0), (3.0, -1.0)]
    assert [p.predicted for p in rows] == [p.predicted for p in flat]
    with pytest.raises(PredictError, match=r"needs 2 values per prediction \(a, b\); you gave 3"):
        predictor.predict([1.0, 2.0, 3.0])


def test_predict_csv_adds_predictions_and_defuses_formulas(predictor: Predictor) -> None:
    data = b'x,note\n200,=HYPERLINK("http://evil")\n-5,@SUM(A1)\n5000,+fine\n1e2,-\n'
    rows = list(csv.reader(io.StringIO(predictor.predict_csv(data).decode())))
    assert rows[0] == ["x", "note", "y_predicted", "y_low", "y_high", "warning"]
    assert [row[0] for row in rows[1:]] == ["200", "-5", "5000", "1e2"]
    assert [row[1] for row in rows[1:]] == [
        '\'=HYPERLINK("http://evil")',
        "'@SUM(A1)",
        "'+fine",
        "'-",
    ]
    expected = [p.predicted for p in predictor.predict([200, -5, 5000, 100])]
    np.testing.assert_allclose([float(row[2]) for row in rows[1:]], expected, rtol=1e-8)
    assert all(float(row[3]) < float(row[2]) < float(row[4]) for row in rows[1:])
    assert rows[1][5] == "" and "far outside" in rows[3][5]


def test_predict_csv_without_header_and_with_the_target_column(predictor: Predictor) -> None:
    no_header = list(csv.reader(io.StringIO(predictor.predict_csv(b"1\n2\n3\n").decode())))
    assert len(no_header) == 4
    assert no_header[0][-4:] == ["y_predicted", "y_low", "y_high", "warning"]
    training_file = predictor.predict_csv(REFERENCE.read_bytes()).decode().splitlines()
    assert len(training_file) == 1001 and training_file[0] == "x,y,y_predicted,y_low,y_high,warning"


def test_predict_csv_explains_bad_input(predictor: Predictor) -> None:
    with pytest.raises(DatasetError, match='no column named "x"'):
        predictor.predict_csv(b"temp,hum\n1,2\n")
    with pytest.raises(DatasetError, match="not a number in row 3"):
        predictor.predict_csv(b"x\n1\nabc\n")
    with pytest.raises(
        DatasetError, match=r"Column \"x\" is empty in row 3, and this model has no fill"
    ):
        predictor.predict_csv(b"x,z\n1,2\n,3\n")


# -- tables with text, dates and gaps: the plan travels with the model ----------------------


@pytest.fixture(scope="module")
def messy() -> tuple[Dataset, Predictor, Predictor]:
    """A few epochs on a table with an id, a date, a category, gaps and money: the predictor
    just trained, and one loaded back from the stored bytes and scaling."""
    dataset = read_dataset(insurance())
    result = train(dataset, TrainParams(epochs=3, seed=0))
    fresh = Predictor.from_result(result, dataset.plan)
    stored = json.loads(json.dumps(fresh.scaling))  # as the database gives it back
    loaded = Predictor(
        save_model_bytes(result),
        stored,
        result.feature_names,
        result.target_name,
        result.feature_ranges,
    )
    return dataset, fresh, loaded


def test_the_plan_is_stored_with_the_model_and_read_back(messy) -> None:
    dataset, fresh, loaded = messy
    assert fresh.scaling["columns"] == dataset.plan.to_dict()
    assert loaded.plan == dataset.plan
    assert loaded.input_names == ["when", "region", "age", "income"]
    assert loaded.feature_names == dataset.feature_names
    row = {"when": "2024-05-05", "region": "east", "age": "44", "income": "$2,000"}
    [a], [b] = fresh.predict([row]), loaded.predict([row])
    np.testing.assert_allclose(a.predicted, b.predicted, rtol=1e-6)
    assert a.inputs == ("2024-05-05", "east", 44.0, 2000.0) and a.warning is None
    assert a.names == ("when", "region", "age", "income")
    # The same row in input order, and as a table, predicts the same.
    [c] = loaded.predict([["2024-05-05", "east", 44, "$2,000"]])
    table = loaded.predict_table(b'income,AGE,region,when\n"$2,000",44,east,2024-05-05\n')
    np.testing.assert_allclose(c.predicted, a.predicted, rtol=1e-6)
    rows = list(csv.reader(io.StringIO(table.data.decode())))
    np.testing.assert_allclose(float(rows[1][4]), a.predicted, rtol=1e-6)


def test_missing_and_unseen_inputs_are_filled_and_said(messy) -> None:
    _, _, predictor = messy
    [p] = predictor.predict([{"region": "Mars", "age": "500"}])
    assert p.warning is not None
    assert p.warning.startswith("age = 500 is far outside the training range 20 to 58")
    assert 'region "Mars" was not in the training data, so it counts as none of the known' in (
        p.warning
    )
    assert "when was not given, so I used 2024-06-26, the training middle date." in p.warning
    assert "income was not given, so I used 2091.5, the training median." in p.warning
    assert p.inputs == ("2024-06-26", "Mars", 500.0, 2091.5)
    with pytest.raises(PredictError, match='This model has no input "bmi"'):
        predictor.predict([{"bmi": "3"}])
    with pytest.raises(PredictError, match='age must be a number, not "old"'):
        predictor.predict([{"age": "old"}])


def test_a_table_of_inputs_keeps_extra_columns_and_names_missing_ones(messy) -> None:
    _, _, predictor = messy
    data = b"Region,age,comment\nnorth,30,fine\nmars,,=HYPERLINK(1)\nsouth,900,x\n"
    table = predictor.predict_table(data)
    rows = list(csv.reader(io.StringIO(table.data.decode())))
    assert rows[0] == [
        "Region", "age", "comment", "charges_predicted", "charges_low", "charges_high", "warning"
    ]  # fmt: skip
    assert [row[2] for row in rows[1:]] == ["fine", "'=HYPERLINK(1)", "x"]
    assert [row[6] for row in rows[1:]] == [
        "",
        "region: new value; age: filled",
        "age: far outside",
    ]
    assert table.rows == 3
    assert words.table_notes(table.notes) == [
        "when: not in the file, so in every row I used 2024-06-26, the training middle date",
        'region: 1 row with values not seen in training (like "mars"), counted as none of the '
        "known values",
        "age: 1 row far outside the training range 20 to 58, so those predictions are guesses",
        "age: 1 empty cell, so I used 34, the training median",
        "income: not in the file, so in every row I used 2091.5, the training median",
    ]
    # A workbook of inputs gives the same predictions.
    sheet = predictor.predict_table(xlsx([["Region", "age", "comment"], ["north", 30, "fine"]]))
    assert sheet.data.decode().splitlines()[1] == ",".join(rows[1])
    with pytest.raises(DatasetError, match='no column named "when", "region", "age", "income"'):
        predictor.predict_table(b"a,b\n1,2\n")
    with pytest.raises(
        DatasetError, match='Column "age" has a value that is not a number in row 3'
    ):
        predictor.predict_table(b"age\n1\nold\n")


@pytest.fixture(scope="module")
def formula_named() -> Predictor:
    """A model whose input and target are named like spreadsheet formulas."""
    rows = "".join(f"{i},{2 * i + 1}\n" for i in range(20))
    dataset = read_dataset(f"=cmd,@evil\n{rows}".encode())
    return Predictor.from_result(train(dataset, TrainParams(epochs=3)), dataset.plan)


def test_predictions_are_bounded_one_warning_per_column(formula_named: Predictor) -> None:
    # Every value far outside the training range: the old per-row sentence made 14 times the
    # input; now each row gets a short tag and the sentence comes once, in the notes.
    data = b"=cmd\n" + b"123456.7\n" * 120_000
    table = formula_named.predict_table(data)
    lines = table.data.decode().splitlines()
    assert lines[0] == "'=cmd,'@evil_predicted,'@evil_low,'@evil_high,warning"
    assert lines[1].startswith("123456.7,") and lines[1].endswith(",'=cmd: far outside")
    # 14 times as much before; now the input, three numbers (the prediction and its interval,
    # at most 17 bytes each) and a short tag.
    assert len(table.data) < len(data) + 120_000 * (3 * 17 + 20)
    assert words.table_notes(table.notes) == [
        "=cmd: 120,000 rows far outside the training range 0 to 19, so those predictions are "
        "guesses"
    ]


def test_predictions_over_telegrams_limit_even_zipped_are_refused(
    formula_named: Predictor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prediction_table_module, "MAX_OUTPUT_BYTES", 100_000)
    monkeypatch.setattr(prediction_table_module, "ZIP_ABOVE_BYTES", 100_000)
    # Digits at random: the zip cannot shrink them under the (lowered) limit.
    cells = np.random.default_rng(0).integers(0, 10**12, 30_000)
    data = b"=cmd\n" + "".join(f"{c}\n" for c in cells).encode()
    with pytest.raises(DatasetError, match=r"over the 0 MB Telegram lets me send even zipped"):
        formula_named.predict_table(data)
    # Over the most CSV made at all: refused before it is made.
    monkeypatch.setattr(prediction_table_module, "MAX_CSV_BYTES", 100_000)
    with pytest.raises(DatasetError, match=r"about 2 MB"):
        formula_named.predict_table(b"=cmd\n" + b"5\n" * 30_000)


def test_a_big_answer_comes_zipped_under_telegrams_limit(formula_named: Predictor) -> None:
    # The case: 2.4 MB of far-out values made a 10.5 MB CSV; 20 MB would have been
    # refused. Over ZIP_ABOVE_BYTES the CSV goes zipped (measured: 18 MB in, a 73 MB CSV,
    # 0.25 MB zipped).
    data = b"=cmd\n" + b"123456.7\n" * 250_000
    table = formula_named.predict_table(data)
    assert table.zipped and table.filename("predictions-7") == "predictions-7.zip"
    assert table.content_type == "application/zip"
    assert table.csv_bytes > prediction_table_module.ZIP_ABOVE_BYTES
    assert len(table.data) < prediction_table_module.MAX_OUTPUT_BYTES
    with zipfile.ZipFile(io.BytesIO(table.data)) as archive:
        [inside] = archive.infolist()
        text = archive.read(inside)
    assert inside.filename == "predictions.csv" and len(text) == table.csv_bytes
    lines = text.decode().splitlines()
    assert len(lines) == 250_001 and lines[1].endswith(",'=cmd: far outside")
    small = formula_named.predict_table(b"=cmd\n1\n2\n")
    assert not small.zipped and small.filename("p") == "p.csv"


def stand_in(plan: ColumnPlan) -> Predictor:
    """A predictor whose "network" adds up its features: the table paths without a fit."""
    predictor = Predictor.__new__(Predictor)
    k = len(plan.feature_names)
    scaling = {"x_mean": [0.0] * k, "x_std": [1.0] * k, "y_mean": 0.0, "y_std": 1.0}
    predictor._init(
        lambda x: np.asarray(x).sum(axis=1), scaling, plan.feature_names, plan.target, plan
    )
    return predictor


HEADERS = st.sampled_from(["when", "Region", "age", "income", "=cmd", "@x", "+y", "-", "note"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(HEADERS, min_size=1, max_size=4, unique_by=str.casefold),
    st.lists(st.lists(CELLS, min_size=4, max_size=4), min_size=1, max_size=12),
)
def test_any_table_of_inputs_gives_a_defused_csv_or_a_sentence(
    header: list[str], rows: list[list[str]]
) -> None:
    predictor = stand_in(read_dataset(insurance()).plan)
    lines = [",".join(header)] + [",".join(f'"{c}"' for c in row[: len(header)]) for row in rows]
    try:
        table = predictor.predict_table(("\n".join(lines) + "\n").encode())
    except DatasetError as error:
        assert str(error).endswith(".")
        return
    out = list(csv.reader(io.StringIO(table.data.decode())))
    assert len(out) == table.rows + 1
    for cell in (cell for row in out for cell in row):
        if cell.startswith(("=", "+", "-", "@", "\t", "\r")):
            assert np.isfinite(float(cell.replace(",", "."))), cell
    assert all(len(row[-1]) < 120 for row in out[1:])


def _dated_table(rows: int = 300) -> bytes:
    """Timestamps over six years (``31.12.2024 13:45``, as Russian Excel writes them), a
    number, and a target far from zero that curves with the date."""
    rng = np.random.default_rng(4)
    start = np.datetime64("2019-01-01T00:00")
    minutes = np.sort(rng.integers(0, 6 * 365 * 24 * 60, rows))
    stamps = (start + minutes.astype("timedelta64[m]")).astype(object)
    years = minutes / (365.25 * 24 * 60)
    other = rng.uniform(0, 10, rows)
    target = 1000 + 40 * np.sin(2 * years) + 2 * other + rng.normal(0, 0.5, rows)
    # Decimal commas in the numbers; the date's two dots stay dots.
    lines = [
        f"{stamp:%d.%m.%Y %H:%M};{value:.3f};{y:.3f}".replace(".", ",").replace(",", ".", 2)
        for stamp, value, y in zip(stamps, other, target, strict=True)
    ]
    return ("when;other;y\n" + "\n".join(lines) + "\n").encode()


def test_the_saved_keras_file_predicts_what_trainbot_predict_does_dates_included() -> None:
    """Keras' float32 on the file's own inputs against trainbot's reading of the same file:
    within 1e-3 of the target's spread (year fractions in float32 were 64 minutes apart)."""
    table = read_dataset(_dated_table())
    assert table.feature_names[0] == "when_year"
    result = train(table, TrainParams(seed=1))
    assert result.model_kind == "network"
    data = save_model_bytes(result, table.column_plan)
    asked = [
        {"when": "03.02.2021 07:15", "other": 2.5},
        {"when": "03.02.2021 08:15", "other": 2.5},
        {"when": "29.11.2024 23:59", "other": 9.0},
    ]
    predictions = Predictor.from_model_file(data).predict(asked)
    features = np.array([p.values for p in predictions], dtype=np.float32)
    in_keras = np.asarray(load_model_bytes(data).predict(features, verbose=0)).reshape(-1)
    said = np.array([p.predicted for p in predictions])
    spread = float(np.std(table.target))
    assert np.max(np.abs(in_keras - said)) <= 1e-3 * spread
    # An hour apart is two inputs, not one (a float32 year fraction held 64 minutes).
    assert features[0, 0] != features[1, 0]
