"""Stand-ins for the fit, for tests of the worker's bookkeeping: leases, progress, cancel,
storing. They run the worker's real code around them, without loading Keras."""

from __future__ import annotations

import time
from collections.abc import Callable

from storage.results import NewModel
from trainbot.settings import Settings
from trainer.params import TrainParams
from trainer.progress import Cancelled, Progress
from trainer.worker.outcomes import TrainedJob, TrainTask

STAND_IN_MODEL = NewModel(
    keras_file=b"not really keras",
    scaling={"x_mean": [0.0], "x_std": [1.0], "y_mean": 0.0, "y_std": 1.0},
    feature_names=["x"],
    target_name="y",
    feature_ranges=[[0.0, 10.0]],
    metrics={"train": {"mse": 0.5}, "validation": None},
    backend="none",
    device="cpu",
)


def stand_in_training(epochs: int | None = 3, *, pause: float = 0.0) -> TrainTask:
    """A training task without Keras: it reports `epochs` epochs of progress (or goes on until
    told to stop, for None), stops when the worker says so, and hands back a stand-in model."""

    def task(
        content: bytes, params: TrainParams, on_progress: Callable[[Progress], bool], _s: Settings
    ) -> TrainedJob:
        epoch = 0
        while epochs is None or epoch < epochs:
            epoch += 1
            report = Progress(epoch, epochs or 10_000, 1.0 / epoch, None, None, 0.0)
            if not on_progress(report):
                raise Cancelled()
            time.sleep(pause)
        summary = {"n_rows": 1, "feature_names": ["x"], "target_name": "y", "epochs_run": epoch}
        return TrainedJob(model=STAND_IN_MODEL, summary=summary, plot_png=b"\x89PNG stand-in")

    return task
