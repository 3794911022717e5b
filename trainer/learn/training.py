"""``train``: one table, by its recipe: the default recipe's cross-validated members
(trainer.learn.crossval) or the tutorial's single network (trainer.learn.single)."""

from __future__ import annotations

from collections.abc import Callable

from trainer import backend
from trainer.errors import DatasetError
from trainer.learn.crossval import train_cross_validated
from trainer.learn.fit import Fit
from trainer.learn.programs import PROGRAMS, ProgramCache
from trainer.learn.recipes import resolve
from trainer.learn.single import train_single
from trainer.limits import Limits
from trainer.params import TrainParams
from trainer.progress import Progress
from trainer.tables.dataset import Dataset
from trainer.tables.task import CLASSIFICATION
from trainer.words.classes import TUTORIAL_CLASSES


def train(
    dataset: Dataset,
    params: TrainParams,
    *,
    limits: Limits = Limits(),  # noqa: B008 - frozen, so one shared default is safe
    on_progress: Callable[[Progress], bool] | None = None,
    progress_interval: float = 2.0,
    programs: ProgramCache = PROGRAMS,
) -> Fit:
    """Train the recipe chosen by ``params`` on ``dataset``; raise Cancelled if asked to stop.

    Networks come from ``programs``: compiled once per shape and recipe, reused afterwards.
    """
    backend.configure()
    recipe = resolve(params, limits)
    if dataset.task == CLASSIFICATION:  # issue 20: a class target trains a classifier
        if recipe.engine != "stacked":
            raise DatasetError(TUTORIAL_CLASSES)
        from trainer.learn.classifier import train_classifier

        return train_classifier(
            dataset, recipe, on_progress=on_progress, progress_interval=progress_interval
        )
    if recipe.engine == "stacked":
        return train_cross_validated(
            dataset,
            recipe,
            on_progress=on_progress,
            progress_interval=progress_interval,
            programs=programs,
        )
    return train_single(dataset, recipe, on_progress, progress_interval, programs)
