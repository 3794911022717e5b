"""Several tables trained as one program: the worker's batches of queued training jobs.

Tables whose plans agree (same inputs count, recipe and padded row count) share one stacked
program, each keeping its own rows, scaling, folds, seed, early stopping, progress and cancel;
the others train in programs of their own. A failure in one table's preparation or result is
that table's alone; if a shared program itself fails, its tables are trained one by one, so
only the table that breaks it fails. While one program trains, the other tables' clocks
(their time limits) stand: a job's limit counts its own training, not its wait.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass

from trainer import backend
from trainer.learn.crossval import Prepared, finish, prepare
from trainer.learn.fit import Fit
from trainer.learn.members import fit_members
from trainer.learn.programs import PROGRAMS, ProgramCache
from trainer.learn.recipes import Recipe, resolve
from trainer.learn.rounds import MemberPlan
from trainer.learn.training import train
from trainer.limits import Limits
from trainer.params import TrainParams
from trainer.progress import Clock, Progress, turn
from trainer.tables.dataset import Dataset

logger = logging.getLogger(__name__)


@dataclass
class TrainRequest:
    """One table to train, with its own options and progress callback."""

    dataset: Dataset
    params: TrainParams
    on_progress: Callable[[Progress], bool] | None = None
    clock: Clock | None = None  # its time limit: paused while other tables train


def train_batch(
    requests: list[TrainRequest],
    *,
    limits: Limits = Limits(),  # noqa: B008 - frozen, so one shared default is safe
    progress_interval: float = 2.0,
    programs: ProgramCache = PROGRAMS,
) -> list[Fit | Exception]:
    """A result per request, in order: a Fit, or the exception that table raised
    (``Cancelled`` when its ``on_progress`` said stop)."""
    backend.configure()
    results: list[Fit | Exception | None] = [None] * len(requests)
    groups: dict[object, list[tuple[int, Prepared]]] = {}
    clocks = [request.clock for request in requests]
    for index, request in enumerate(requests):
        try:
            recipe = resolve(request.params, limits)
            if recipe.engine != "stacked":
                with turn(clocks, {index}):
                    results[index] = _alone(request, limits, progress_interval, programs)
                continue
            prepared = prepare(request.dataset, recipe, request.on_progress, progress_interval)
        except Exception as error:
            results[index] = error
            continue
        groups.setdefault(_batch_key(prepared), []).append((index, prepared))

    for members in groups.values():
        first = members[0][1]
        try:
            with turn(clocks, {index for index, _ in members}):
                fits = fit_members(
                    [prepared.task for _, prepared in members], first.recipe, first.plan,
                    programs=programs, use_early_stopping=first.recipe.epochs is None,
                    slots=_slots(len(members)),
                )  # fmt: skip
        except Exception as error:
            if len(members) == 1:
                results[members[0][0]] = error
                continue
            logger.exception("a batch of %d tables failed; training them one by one", len(members))
            for index, _ in members:
                with turn(clocks, {index}):
                    results[index] = _alone(requests[index], limits, progress_interval, programs)
            continue
        for (index, prepared), fitted in zip(members, fits, strict=True):
            try:
                results[index] = finish(prepared, fitted)
            except Exception as error:
                results[index] = error
    return [result if result is not None else RuntimeError("not trained") for result in results]


def _batch_key(prepared: Prepared) -> object:
    # The members' width: inputs and their encoding, which differ between same-width tables.
    return _key(prepared.task.x.shape[1], prepared.recipe, prepared.plan)


def _key(n_features: int, recipe: Recipe, plan: MemberPlan) -> object:
    return (
        n_features,
        dataclasses.replace(recipe, seed=0),
        dataclasses.replace(plan, rows=0),
        plan.padded_rows,
    )


def _slots(tables: int) -> int:
    """Tables pad to a power of two: a worker compiles a program per size only once."""
    return 1 if tables <= 1 else 1 << (tables - 1).bit_length()


def _alone(
    request: TrainRequest, limits: Limits, progress_interval: float, programs: ProgramCache
) -> Fit | Exception:
    try:
        return train(
            request.dataset, request.params, limits=limits, on_progress=request.on_progress,
            progress_interval=progress_interval, programs=programs,
        )  # fmt: skip
    except Exception as error:
        return error
