"""One table trained alone and beside other chats' tables, on whichever backend runs this.

    python -m tests.alone_or_batched     # prints the comparison as JSON (KERAS_BACKEND picks)

tests/test_trainer_batch.py runs it in its own process for its backend, and as a command for
the other one, so both backends show a job's model does not depend on its batchmates.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from trainer import examples
from trainer.backend import backend_name
from trainer.learn.batch import TrainRequest, train_batch
from trainer.learn.programs import ProgramCache
from trainer.learn.training import train
from trainer.params import TrainParams
from trainer.tables.dataset import Dataset, read_dataset


def _table(kind: str, rows: int, seed: int) -> Dataset:
    return read_dataset(examples.curve_csv(kind, rows, seed=seed))


def compare(epochs: int | None = None) -> dict[str, Any]:
    """The same table and seed alone, then second of three tables (another seed first, and
    one with fewer rows padded to the same batches): predictions, rounds and figures of both."""
    mine = _table("square", 120, 1)
    params = TrainParams(seed=3, epochs=epochs)
    alone = train(mine, params, programs=ProgramCache())
    batched = train_batch(
        [
            TrainRequest(_table("sine", 120, 5), TrainParams(seed=11, epochs=epochs)),
            TrainRequest(mine, params),
            TrainRequest(_table("square", 116, 9), TrainParams(seed=0, epochs=epochs)),
        ],
        programs=ProgramCache(),
    )[1]
    assert not isinstance(batched, Exception), batched
    grid = np.linspace(-3.0, 3.0, 61)[:, None]
    spread = float(np.std(mine.target))
    difference = np.max(np.abs(alone.predict(grid) - batched.predict(grid))) / spread
    return {
        "backend": backend_name(),
        "difference": float(difference),  # the largest, as a share of the target's spread
        "kinds": [alone.model_kind, batched.model_kind],
        "passes": [alone.passes_run, batched.passes_run],
        "best": [alone.best_pass, batched.best_pass],
        "network_mse": [alone.validation["network_mse"], batched.validation["network_mse"]],
    }


if __name__ == "__main__":
    print(json.dumps(compare()))
