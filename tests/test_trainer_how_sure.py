"""How sure and what drives it, through real training: the 90 % interval on fresh rows, each
input column's importance, and both carried by the model file, the predictor, the prediction
table, the summary and the plot."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from trainer.judge.intervals import IntervalModel
from trainer.learn.fit import Fit
from trainer.learn.training import train
from trainer.model_file.keras_file import model_file_info, save_model_bytes
from trainer.model_file.predictor import Predictor
from trainer.params import TrainParams
from trainer.report.data import report_of
from trainer.report.drawing import report_figure
from trainer.tables.dataset import Dataset, read_dataset
from trainer.words import summary as sw
from trainer.worker import tasks

Z90 = 1.6448536269514722


def _curve(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A curved strong input, a linear one whose noise grows along it, and a pure-noise one."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, (n, 3))
    sd = 0.2 + 0.3 * (x[:, 1] + 2)
    return x, 2 * np.sin(2 * x[:, 0]) + x[:, 1] + rng.normal(size=n) * sd, sd


@pytest.fixture(scope="module")
def curve() -> tuple[Dataset, Fit]:
    x, y, _ = _curve(800, 0)
    dataset = Dataset(x, y, ["strong", "medium", "noise"], "y")
    return dataset, train(dataset, TrainParams(seed=0))


def _flats(n: int, seed: int) -> bytes:
    """A table as people send it: area, a district (category), a listing date, pure noise."""
    rng = np.random.default_rng(seed)
    area = rng.uniform(20, 150, n)
    district = rng.choice(["north", "south", "east", "west"], n)
    listed = np.datetime64("2023-01-01") + rng.integers(0, 700, n)
    noise = rng.normal(size=n)
    bonus = np.select([district == "north", district == "south"], [120, 50], 0)
    price = 2 * area + bonus + rng.normal(size=n) * 15
    lines = ["area;district;listed;noise;price"] + [
        f"{a:.1f};{d};{t!s};{z:.3f};{p:.1f}"
        for a, d, t, z, p in zip(area, district, listed, noise, price, strict=True)
    ]
    return "\n".join(lines).encode()


@pytest.fixture(scope="module")
def flats() -> tuple[Dataset, Fit]:
    dataset = read_dataset(_flats(600, 1))
    return dataset, train(dataset, TrainParams(seed=0))


def test_nine_in_ten_fresh_rows_fall_inside_at_about_the_ideal_width(
    curve: tuple[Dataset, Fit],
) -> None:
    _, result = curve
    assert result.model_kind == "network"
    x, y, sd = _curve(2000, 1)  # fresh rows from the training distribution
    interval = IntervalModel.from_dict(result.scaling["interval"])
    assert interval is not None
    low, high = interval.bounds(x, result.predict(x))
    assert 0.85 <= np.mean((y >= low) & (y <= high)) <= 0.95
    assert np.mean(high - low) / np.mean(2 * Z90 * sd) <= 1.6
    assert result.interval == {
        "level": 0.9,
        "half_width": pytest.approx(np.median(interval.half_width(x, result.predict(x))), 0.1),
        "varies": interval.varies,
    }


def test_the_strong_input_ranks_first_and_noise_gets_under_a_tenth(
    curve: tuple[Dataset, Fit],
) -> None:
    _, result = curve
    assert result.importance is not None
    assert list(result.importance) == ["strong", "medium", "noise"]
    assert sum(result.importance.values()) == pytest.approx(1.0)
    assert result.importance["noise"] < 0.1


def test_a_category_and_a_date_are_one_column_each(flats: tuple[Dataset, Fit]) -> None:
    dataset, result = flats
    assert result.importance is not None
    assert set(result.importance) == {"area", "district", "listed", "noise"}
    assert len(dataset.feature_names) > 4  # one-hot features and date parts behind them
    assert list(result.importance)[:2] == ["area", "district"]
    assert result.importance["noise"] < 0.1 and result.importance["listed"] < 0.1


def test_the_keras_file_and_the_stored_model_keep_the_interval(
    flats: tuple[Dataset, Fit],
) -> None:
    dataset, result = flats
    asked = [{"area": 50, "district": "north"}, {"area": 120, "district": "west"}]
    fresh = Predictor.from_result(result, dataset.plan).predict(asked)
    data = save_model_bytes(result, dataset.plan)
    assert model_file_info(data)["scaling"]["interval"] == result.scaling["interval"]
    from_file = Predictor.from_model_file(data).predict(asked)
    # As the worker stores it (the column plan beside the scaling) and the database gives it back.
    stored = json.loads(
        json.dumps(tasks.json_safe({**result.scaling, "columns": dataset.plan.to_dict()}))
    )
    from_row = Predictor(
        data, stored, result.feature_names, result.target_name, result.feature_ranges
    ).predict(asked)
    for one, two, three in zip(fresh, from_file, from_row, strict=True):
        assert one.low is not None and one.high is not None
        assert one.low < one.predicted < one.high
        for other in (two, three):
            assert (other.low, other.high) == pytest.approx((one.low, one.high), rel=1e-6)
    assert fresh[0].to_dict()["low"] == fresh[0].low
    answer = tasks.prediction_dict(fresh[0])
    assert (answer["low"], answer["high"]) == (fresh[0].low, fresh[0].high)


def test_a_prediction_file_has_low_and_high_beside_the_prediction(
    flats: tuple[Dataset, Fit],
) -> None:
    dataset, result = flats
    table = Predictor.from_result(result, dataset.plan).predict_table(
        b"district,area,comment\nnorth,50,first\neast,130,second\n"
    )
    rows = list(csv.reader(io.StringIO(table.data.decode())))
    assert rows[0] == [
        "district", "area", "comment", "price_predicted", "price_low", "price_high", "warning"
    ]  # fmt: skip
    for row in rows[1:]:
        predicted, low, high = map(float, row[3:6])
        assert low < predicted < high
        assert (high - low) / 2 == pytest.approx(result.interval["half_width"], rel=0.5)


def test_the_summary_says_how_sure_and_what_drives_it(flats: tuple[Dataset, Fit]) -> None:
    dataset, result = flats
    predictions = Predictor.from_result(result, dataset.plan).predict([{"area": 80}])
    summary = json.loads(json.dumps(tasks._train_summary(result, predictions, dataset.n_rows)))
    assert set(summary["interval"]) == {"level", "half_width", "varies"}
    assert summary["interval"]["level"] == 0.9 and summary["interval"]["half_width"] > 0
    shares = list(summary["importance"].values())
    assert shares == sorted(shares, reverse=True) and next(iter(summary["importance"])) == "area"
    (asked,) = summary["predictions"]
    assert asked["low"] < asked["value"] < asked["high"]


def test_the_tutorial_gets_its_interval_from_the_held_out_share() -> None:
    x, y, _ = _curve(400, 2)
    dataset = Dataset(x, y, ["strong", "medium", "noise"], "y")
    result = train(dataset, TrainParams(preset="tutorial", epochs=40, seed=0, validation_split=0.2))
    assert result.n_validation == 80
    assert result.interval is not None and result.importance is not None
    (prediction,) = Predictor.from_result(result).predict([[0.0, 0.0, 0.0]])
    assert prediction.low is not None and prediction.low < prediction.predicted < prediction.high


@pytest.mark.parametrize("preset", ["default", "tutorial"])
def test_nothing_held_out_says_nothing_about_intervals(preset: str) -> None:
    x, y, _ = _curve(200, 3)
    dataset = Dataset(x, y, ["strong", "medium", "noise"], "y")
    result = train(dataset, TrainParams(preset=preset, epochs=5, seed=0, validation_split=0.0))
    assert result.interval is None and result.importance is None
    assert "interval" not in result.scaling
    predictor = Predictor.from_result(result)
    (prediction,) = predictor.predict([[0.0, 0.0, 0.0]])
    assert prediction.low is None and prediction.high is None
    header = predictor.predict_csv(b"strong,medium,noise\n0,0,0\n").decode().splitlines()[0]
    assert header == "strong,medium,noise,y_predicted,warning"
    assert report_of(dataset, result).band is None


def test_the_plot_draws_the_band_and_the_importance_panel(flats: tuple[Dataset, Fit]) -> None:
    dataset, result = flats
    report = report_of(dataset, result)
    assert report.band is not None and report.level == 0.9
    assert [name for name, _ in report.importance][:2] == ["area", "district"]
    fit_axes, _, importance_axes = report_figure(report).axes
    labels = [text.get_text() for text in fit_axes.get_legend().get_texts()]
    assert "90 % prediction interval" in labels
    bars = [text.get_text() for text in importance_axes.texts]
    assert bars[-1].startswith("area") and len(bars) == 4


def test_a_late_rise_is_drawn_faded_after_the_kept_pass(curve: tuple[Dataset, Fit]) -> None:
    dataset, result = curve
    kept = result.best_pass
    assert kept and kept < result.passes_run
    _, loss_axes = report_figure(report_of(dataset, result)).axes[:2]
    labels = [text.get_text() for text in loss_axes.get_legend().get_texts()]
    assert f"kept: pass {kept}" in labels and "after the kept pass (not used)" in labels
    for line in loss_axes.get_lines():
        passes = np.asarray(line.get_xdata(), float)
        if len(passes) > 1 and line.get_linestyle() == "-" and line.get_alpha() is None:
            assert passes.max() <= kept  # solid curves end at the kept pass


def test_how_sure_and_what_drives_it_in_words() -> None:
    interval = {"level": 0.9, "half_width": 12.34, "varies": False}
    importance = {"area": 0.5, "district": 0.3, "rooms": 0.15, "noise": 0.05}
    assert sw.sure_and_drivers(interval, importance, "price") == (
        "On rows it never saw, predictions of price were within ±12 for 9 in 10 rows; area and "
        "district matter most."
    )
    varying = {**interval, "half_width": 0.00523, "varies": True}
    assert sw.how_sure(varying, "y").endswith(
        "within ±0.0052 for 9 in 10 rows (a typical width; it varies with the inputs)"
    )
    assert sw.sure_and_drivers(None, {"area": 0.9, "noise": 0.1}, "y") == (
        "What matters most: area."
    )
    # One input, or none that helped: nothing to say about what drives it.
    assert sw.drivers({"x": 1.0}) == [] and sw.drivers({"a": 0.0, "b": 0.0}) == []
    assert sw.sure_and_drivers(None, None, "y") == ""
    assert sw.importance_shares(importance, most=3) == "area 50 %, district 30 %, rooms 15 %"
    assert sw.interval_range(93.3288597, 93.33778915) == "90 % interval 93.32886 to 93.33779"
    assert sw.interval_range(146.825, 197.714) == "90 % interval 146.8 to 197.7"
    assert sw.interval_range(None, None) == ""
    assert [sw.about(v) for v in (1234.0, 12.34, 0.00523, 99.6)] == [
        "1,200", "12", "0.0052", "100"
    ]  # fmt: skip
