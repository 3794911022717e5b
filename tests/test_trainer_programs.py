"""Compiled networks reused between trainings: same results as new ones, never shared."""

from __future__ import annotations

import numpy as np
import pytest

from trainer import examples
from trainer.learn.network import build_model, compile_model
from trainer.learn.programs import ProgramCache, ProgramKey
from trainer.learn.recipes import DEFAULT
from trainer.learn.training import train
from trainer.params import TrainParams
from trainer.progress import Cancelled, Progress
from trainer.tables.dataset import Dataset, read_dataset

GRID = np.linspace(-3.0, 3.0, 20)[:, None]
SHORT = {"epochs": 24}


@pytest.fixture(scope="module")
def table() -> Dataset:
    # Curved, so that the chat gets the network: a line would hide what the pool does.
    return read_dataset(examples.curve_csv("square", 400, seed=3))


def test_a_reused_network_trains_exactly_like_a_new_one(table: Dataset) -> None:
    pool = ProgramCache()
    result = train(table, TrainParams(seed=4, **SHORT), programs=pool)
    assert result.model_kind == "network"
    first = result.predict(GRID)
    again = train(table, TrainParams(seed=4, **SHORT), programs=pool).predict(GRID)
    new = train(table, TrainParams(seed=4, **SHORT), programs=ProgramCache()).predict(GRID)

    assert pool.built == 1
    np.testing.assert_array_equal(again, first)
    np.testing.assert_array_equal(new, first)


def test_other_seeds_still_give_other_networks(table: Dataset) -> None:
    pool = ProgramCache()
    one = train(table, TrainParams(seed=1, **SHORT), programs=pool).predict(GRID)
    two = train(table, TrainParams(seed=2, **SHORT), programs=pool).predict(GRID)
    assert pool.built == 1
    assert not np.array_equal(one, two)


def test_a_result_keeps_its_weights_when_the_network_trains_again(table: Dataset) -> None:
    pool = ProgramCache()
    result = train(table, TrainParams(seed=1, **SHORT), programs=pool)
    before = result.predict(GRID)

    train(table, TrainParams(seed=2, epochs=60), programs=pool)

    np.testing.assert_array_equal(result.predict(GRID), before)


def test_a_cancelled_training_leaves_a_network_that_trains_normally(table: Dataset) -> None:
    pool = ProgramCache()
    with pytest.raises(Cancelled):
        train(
            table,
            TrainParams(seed=3, **SHORT),
            programs=pool,
            on_progress=lambda progress: False,
            progress_interval=0.0,
        )
    reports: list[Progress] = []
    after_cancel = train(
        table, TrainParams(seed=3, **SHORT), programs=pool, on_progress=reports.append
    ).predict(GRID)

    assert pool.built == 1
    assert reports[-1].passes_done == reports[-1].total_passes
    new = train(table, TrainParams(seed=3, **SHORT), programs=ProgramCache()).predict(GRID)
    np.testing.assert_array_equal(after_cancel, new)


def test_other_shapes_get_networks_of_their_own(table: Dataset) -> None:
    pool = ProgramCache()
    two_inputs = read_dataset(examples.big_csv(300, seed=2))
    train(table, TrainParams(seed=0, **SHORT), programs=pool)
    train(two_inputs, TrainParams(seed=0, **SHORT), programs=pool)
    # More epochs are more rounds of the same program: the learning rate is set per round.
    train(table, TrainParams(seed=0, epochs=48), programs=pool)
    assert pool.built == 2
    assert pool.idle_count() == 2


class _StandIn:
    """Enough of a compiled network for the pool's bookkeeping: no Keras, no fit."""

    class _Optimizer:
        variables: tuple[object, ...] = ()

    optimizer = _Optimizer()

    def set_weights(self, weights: object) -> None:
        self.weights = weights


def test_the_pool_drops_the_least_recently_used_beyond_its_size() -> None:
    pool = ProgramCache(size=1)
    one = ProgramKey.of(1, DEFAULT, total_steps=0, steps_per_execution=8)
    two = ProgramKey.of(2, DEFAULT, total_steps=0, steps_per_execution=8)
    for key in (one, two, one):
        with pool.borrow(key, _StandIn, []):
            pass
    assert pool.idle_count() == 1
    assert pool.built == 3  # "one" was dropped for "two", so it was built again


def test_a_borrowed_network_is_never_lent_twice() -> None:
    pool = ProgramCache()
    key = ProgramKey.of(1, DEFAULT, total_steps=10, steps_per_execution=2)

    def build() -> object:
        network = build_model(1, DEFAULT)
        compile_model(network, DEFAULT, total_steps=10, steps_per_execution=2)
        return network

    weights = build_model(1, DEFAULT).get_weights()
    with pool.borrow(key, build, weights) as first, pool.borrow(key, build, weights) as second:
        assert first is not second
    assert pool.built == 2
    assert pool.idle_count() == 2
