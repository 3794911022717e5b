"""Turn a table into a trained Keras regressor, a report and predictions.

The sub-packages are the architecture (README, "Design"): ``tables`` reads files and cells
(no Keras), ``judge`` measures and decides (NumPy only), ``learn`` trains, ``model_file``
saves, loads and answers, ``report`` draws, ``worker`` runs jobs; ``words`` says every fact
in plain words.

The few public names below load lazily (PEP 562): importing ``trainer`` or any light module of
it loads no Keras, TensorFlow, JAX or matplotlib.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trainer.learn.batch import TrainRequest, train_batch
    from trainer.learn.fit import Fit
    from trainer.learn.training import train
    from trainer.limits import Limits
    from trainer.model_file.predictor import Prediction, Predictor
    from trainer.params import TrainParams
    from trainer.tables.dataset import Dataset, read_dataset

_HOMES = {
    "Dataset": "trainer.tables.dataset",
    "read_dataset": "trainer.tables.dataset",
    "TrainParams": "trainer.params",
    "Limits": "trainer.limits",
    "train": "trainer.learn.training",
    "Fit": "trainer.learn.fit",
    "TrainRequest": "trainer.learn.batch",
    "train_batch": "trainer.learn.batch",
    "Predictor": "trainer.model_file.predictor",
    "Prediction": "trainer.model_file.predictor",
}

__all__ = [
    "Dataset",
    "Fit",
    "Limits",
    "Prediction",
    "Predictor",
    "TrainParams",
    "TrainRequest",
    "read_dataset",
    "train",
    "train_batch",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'trainer' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
