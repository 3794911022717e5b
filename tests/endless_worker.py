"""A real worker process whose training never ends: the victim of the fault tests.

The loop, the claims, the leases and the progress reports are the worker's own; only the fit
is a stand-in that reports progress until the process is killed, and no ML backend loads. A
victim then starts in about a second instead of five, so killing twenty of them stays cheap.

    python -m tests.endless_worker      # configured like `trainbot worker`, from the environment
"""

from __future__ import annotations

from storage.models import JobKind
from storage.store import Store
from tests.stand_ins import stand_in_training
from trainbot.settings import Settings
from trainer import backend
from trainer.worker.loop import Worker


def main() -> None:
    # Nothing here runs on a backend: what the registry records says so.
    backend.configure = lambda: None  # type: ignore[assignment]
    backend.backend_name = lambda: "none"
    backend.device_description = lambda: "cpu"  # type: ignore[assignment]
    settings = Settings.from_env(env_file=None)
    store = Store.from_settings(settings)
    try:
        worker = Worker(
            store, settings, name=settings.worker_name, kinds=(JobKind.TRAIN,),
            train_task=stand_in_training(None, pause=0.02),  # trains until killed
        )  # fmt: skip
        worker.run()
    finally:
        store.close()


if __name__ == "__main__":
    main()
