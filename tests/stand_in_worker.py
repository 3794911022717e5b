"""A real worker process whose fit is a stand-in of a set length: the hosts of the multi-host
test (tests/test_multi_host.py).

The loop, claims, leases, progress and results are the worker's own; the fit reports
STAND_IN_EPOCHS epochs, STAND_IN_PAUSE seconds apart, and no ML backend loads, so a worker
comes up in about a second and a job lasts as long as the test needs.

    python -m tests.stand_in_worker      # configured like `trainbot worker`, from the environment
"""

from __future__ import annotations

import logging
import os

from storage.models import JobKind
from storage.store import Store
from tests.stand_ins import stand_in_training
from trainbot.settings import Settings
from trainer import backend
from trainer.worker.loop import Worker


def main() -> None:
    backend.configure = lambda: None  # type: ignore[assignment]
    backend.backend_name = lambda: "none"
    backend.device_description = lambda: "cpu"  # type: ignore[assignment]
    settings = Settings.from_env(env_file=None)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    epochs = int(os.environ.get("STAND_IN_EPOCHS", "20"))
    pause = float(os.environ.get("STAND_IN_PAUSE", "0.05"))
    store = Store.from_settings(settings)
    try:
        worker = Worker(
            store, settings, name=settings.worker_name, kinds=(JobKind.TRAIN,),
            train_task=stand_in_training(epochs, pause=pause),
        )  # fmt: skip
        worker.run()
    finally:
        store.close()


if __name__ == "__main__":
    main()
