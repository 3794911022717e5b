"""A real worker process that one job kills, as running out of memory would: the fault tests'
stand-in for a job too big for its worker.

    python -m tests.fatal_job_worker     # configured like `trainbot worker`, from the environment

The loop, claims, leases and batches are the worker's own; the fit is a stand-in that trains
every job in a moment, except one whose seed is ``FATAL_SEED``: that one kills the process.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

from storage.models import JobKind
from storage.store import Store
from tests.stand_ins import stand_in_training
from trainbot.settings import Settings
from trainer import backend
from trainer.params import TrainParams
from trainer.progress import Progress
from trainer.worker.loop import Worker
from trainer.worker.outcomes import TrainedJob

FATAL_SEED = 666


def _fatal_or_quick(
    content: bytes, params: TrainParams, on_progress: Callable[[Progress], bool], s: Settings
) -> TrainedJob:
    if params.seed == FATAL_SEED:
        os.kill(os.getpid(), signal.SIGKILL)
    return stand_in_training(3)(content, params, on_progress, s)


def main() -> None:
    backend.configure = lambda: None  # type: ignore[assignment]
    backend.backend_name = lambda: "none"
    backend.device_description = lambda: "cpu"  # type: ignore[assignment]
    settings = Settings.from_env(env_file=None)
    store = Store.from_settings(settings)
    try:
        worker = Worker(
            store, settings, name=settings.worker_name, kinds=(JobKind.TRAIN,),
            train_task=_fatal_or_quick,
        )  # fmt: skip
        worker.run()
    finally:
        store.close()


if __name__ == "__main__":
    main()
