"""The report PNG: a real, shareable image of sensible size for one or several inputs."""

from __future__ import annotations

import dataclasses
import io
import sys
from pathlib import Path
from typing import Any

import matplotlib.image
import numpy as np
import pytest

from trainbot.settings import Settings
from trainer import examples
from trainer.learn.fit import Fit
from trainer.learn.training import train
from trainer.model_file.predictor import Predictor
from trainer.params import TrainParams
from trainer.report.data import report_of
from trainer.report.drawing import draw_report_png, render_report_png
from trainer.report.processes import PlotPool
from trainer.tables.dataset import Dataset, read_dataset
from trainer.worker import tasks
from trainer.worker.outcomes import TrainedJob, TrainInput

REFERENCE = Path(__file__).parents[1] / "examples" / "fahrenheit.csv"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def one_input() -> tuple[Dataset, Fit]:
    dataset = read_dataset(REFERENCE.read_bytes())
    return dataset, train(dataset, TrainParams(epochs=30, seed=0))


def _decode(png: bytes) -> np.ndarray:
    assert png.startswith(PNG_SIGNATURE)
    return matplotlib.image.imread(io.BytesIO(png), format="png")


def test_one_input_report_with_predictions(one_input: tuple[Dataset, Fit]) -> None:
    dataset, result = one_input
    predictions = Predictor.from_result(result).predict([200, 1500])
    png = render_report_png(dataset, result, predictions)
    image = _decode(png)
    assert image.shape[:2] == (560, 1200)
    assert 10_000 < len(png) < 150_000
    assert image[..., :3].std() > 0.05  # not a blank canvas


def test_several_inputs_report() -> None:
    dataset = read_dataset(examples.big_csv(3000, seed=1))
    result = train(dataset, TrainParams(epochs=10, seed=1))
    png = render_report_png(dataset, result, title="Sales")
    assert _decode(png).shape[:2] == (560, 1200)
    assert len(png) < 150_000


def test_no_pyplot_state(one_input: tuple[Dataset, Fit]) -> None:
    had_pyplot = "matplotlib.pyplot" in sys.modules
    render_report_png(*one_input)
    assert ("matplotlib.pyplot" in sys.modules) == had_pyplot


def test_a_batch_of_reports_is_drawn_in_other_processes_each_failing_alone(
    one_input: tuple[Dataset, Fit],
) -> None:
    report = report_of(*one_input)
    # Targets that do not match the rows: this one cannot be drawn.
    broken = dataclasses.replace(report, y=report.y[:3])
    pool = PlotPool(processes=2)
    try:
        first, failed, last = pool.draw_all([report, broken, report])
    finally:
        pool.close()
    assert isinstance(failed, Exception)  # the exception, not a PNG, and no retry
    assert isinstance(first, bytes) and first == last == draw_report_png(report)
    assert _decode(first).shape[:2] == (560, 1200)


def test_a_batch_trained_together_gets_a_plot_for_each_table(
    one_input: tuple[Dataset, Fit],
) -> None:
    content = REFERENCE.read_bytes()
    inputs = [
        TrainInput(content, TrainParams(epochs=5, seed=seed), lambda _: True) for seed in (1, 2)
    ]
    trained = tasks.train_models(inputs, Settings(TRAINBOT_PLOT_PROCESSES=2))
    assert all(isinstance(t, TrainedJob) and t.plot_png is not None for t in trained), trained
    assert all(_decode(t.plot_png).shape[:2] == (560, 1200) for t in trained)  # type: ignore[union-attr]


def test_a_fit_whose_model_file_cannot_be_made_fails_alone_in_its_batch(
    one_input: tuple[Dataset, Fit], monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset, result = one_input
    unsavable = dataclasses.replace(result)
    real_save = tasks.save_model_bytes

    def save(fitted: Fit, *args: Any) -> bytes:
        if fitted is unsavable:
            raise OSError("no space left on device")
        return real_save(fitted, *args)

    monkeypatch.setattr(tasks, "save_model_bytes", save)
    params = TrainParams(epochs=30, seed=0)
    first, failed, last = tasks.package_all(
        [(dataset, result, params), (dataset, unsavable, params), (dataset, result, params)],
        plot_processes=2,
    )
    assert isinstance(failed, OSError)
    for trained in (first, last):
        assert isinstance(trained, TrainedJob) and trained.plot_png is not None
        assert trained.model.keras_file and "missing" not in trained.summary
