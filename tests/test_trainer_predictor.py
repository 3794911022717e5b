"""Saving, loading and predicting: the round trip, range warnings, and CSV predictions."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest

from trainer import examples
from trainer.dataset import DatasetError, parse_csv
from trainer.fit import TrainResult, train
from trainer.params import TrainParams
from trainer.predictor import PredictError, Predictor, load_model_bytes, save_model_bytes

REFERENCE = Path(__file__).parents[1] / "examples" / "fahrenheit.csv"


@pytest.fixture(scope="module")
def result() -> TrainResult:
    return train(parse_csv(REFERENCE.read_bytes()), TrainParams(epochs=30, seed=0))


@pytest.fixture(scope="module")
def predictor(result: TrainResult) -> Predictor:
    return Predictor(
        save_model_bytes(result),
        result.scaling,
        result.feature_names,
        result.target_name,
        result.feature_ranges,
    )


def test_round_trip_gives_the_same_predictions(result: TrainResult, predictor: Predictor) -> None:
    values = [0.0, 200.0, 512.5, 999.0]
    loaded = [p.predicted for p in predictor.predict(values)]
    direct = result.predict(np.array(values)[:, None])
    np.testing.assert_allclose(loaded, direct, rtol=1e-6)
    fresh = [p.predicted for p in Predictor.from_result(result).predict(values)]
    np.testing.assert_allclose(fresh, direct, rtol=1e-6)


def test_saved_bytes_are_a_keras_file(result: TrainResult) -> None:
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
    dataset = parse_csv(examples.big_csv(300, seed=3))
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
    assert rows[0] == ["x", "note", "y_predicted", "warning"]
    assert [row[0] for row in rows[1:]] == ["200", "-5", "5000", "1e2"]
    assert [row[1] for row in rows[1:]] == [
        '\'=HYPERLINK("http://evil")',
        "'@SUM(A1)",
        "'+fine",
        "'-",
    ]
    expected = [p.predicted for p in predictor.predict([200, -5, 5000, 100])]
    np.testing.assert_allclose([float(row[2]) for row in rows[1:]], expected, rtol=1e-8)
    assert rows[1][3] == "" and "far outside" in rows[3][3]


def test_predict_csv_without_header_and_with_the_target_column(predictor: Predictor) -> None:
    no_header = list(csv.reader(io.StringIO(predictor.predict_csv(b"1\n2\n3\n").decode())))
    assert len(no_header) == 4 and no_header[0][-2:] == ["y_predicted", "warning"]
    training_file = predictor.predict_csv(REFERENCE.read_bytes()).decode().splitlines()
    assert len(training_file) == 1001 and training_file[0] == "x,y,y_predicted,warning"


def test_predict_csv_explains_bad_input(predictor: Predictor) -> None:
    with pytest.raises(DatasetError, match='no column named "x"'):
        predictor.predict_csv(b"temp,hum\n1,2\n")
    with pytest.raises(DatasetError, match="not a number in row 3"):
        predictor.predict_csv(b"x\n1\nabc\n")
    with pytest.raises(DatasetError, match="missing or infinite input"):
        predictor.predict_csv(b"x,z\n1,2\n,3\n")
