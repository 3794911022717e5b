"""Recently used predictors, so a `/predict` does not reload its model from the database."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import cachetools

from storage.store import Store
from storage.views import JobInfo
from trainer import words
from trainer.errors import JobFailure

if TYPE_CHECKING:
    from trainer.model_file.predictor import Predictor


class PredictorCache:
    """Loaded predictors by model id. Both lanes of a worker use it (the training lane puts a
    just-trained model in), hence the lock."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: cachetools.LRUCache[int, Predictor] = cachetools.LRUCache(maxsize=max(size, 1))
        self._lock = threading.Lock()

    def get(self, model_id: int) -> Predictor | None:
        with self._lock:
            return self._items.get(model_id)

    def put(self, model_id: int, predictor: Predictor) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._items[model_id] = predictor

    def for_job(self, store: Store, job: JobInfo) -> tuple[int, Predictor]:
        """The job's model: its chat's version number and a loaded predictor."""
        from trainer.model_file.predictor import Predictor  # the ML stack loads with the first job

        if job.model_id is None:
            raise JobFailure(words.GONE_MODEL)
        # Asked every time (a small row, no file) so a deleted model stops answering at once.
        model = store.records.model_by_id(job.chat_id, job.model_id)
        if model is None:
            raise JobFailure(words.GONE_MODEL)
        predictor = self.get(model.id)
        if predictor is None:
            keras_file = store.records.model_file(job.chat_id, model.id)
            if keras_file is None:
                raise JobFailure(words.GONE_MODEL)
            predictor = Predictor(
                keras_file,
                model.scaling,
                model.feature_names,
                model.target_name,
                model.feature_ranges,
            )
            self.put(model.id, predictor)
        return model.version, predictor
