"""Parsing of training options and /predict values, and turning them into a recipe."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trainer.learn.recipes import DEFAULT, TUTORIAL, Recipe, resolve, schedule
from trainer.limits import Limits
from trainer.params import ParamError, TrainParams, parse_params, parse_predict_values

LIMITS = Limits()


def test_full_caption() -> None:
    caption = (
        "epochs=300 lr=0.01 optimizer=Adam batch=64 val=0.2 seed=7 x=temp,hum y=sales "
        "predict=200,300 preset=tutorial"
    )
    tokens = caption.split(" ")
    assert parse_params(tokens, LIMITS) == TrainParams(
        epochs=300,
        learning_rate=0.01,
        optimizer="adam",
        batch_size=64,
        validation_split=0.2,
        seed=7,
        preset="tutorial",
        predict=(200.0, 300.0),
        x=("temp", "hum"),
        y="sales",
    )


def test_long_names_and_empty_caption() -> None:
    params = parse_params(["learning_rate=1e-3", "batch_size=32", "validation_split=0"], LIMITS)
    assert (params.learning_rate, params.batch_size, params.validation_split) == (1e-3, 32, 0.0)
    assert parse_params([], LIMITS) == TrainParams()


@pytest.mark.parametrize(
    ("token", "fragments"),
    [
        ("epochs=0", ["epochs", "1 to 5000"]),
        ("epochs=5001", ["epochs", "1 to 5000"]),
        ("epochs=1.5", ["epochs", "whole number from 1 to 5000"]),
        ("epochs=abc", ["epochs", '"abc"']),
        ("lr=2", ["lr", "1e-06 to 1"]),
        ("learning_rate=0", ["learning_rate", "1e-06 to 1"]),
        ("lr=nan", ["lr", "finite"]),
        ("batch=0", ["batch", "1 to 65536"]),
        ("batch=100000", ["batch", "1 to 65536"]),
        ("val=0.9", ["val", "0 to 0.5"]),
        ("val=-0.1", ["val", "0 to 0.5"]),
        ("seed=-1", ["seed", "0 to 2147483647"]),
        ("optimizer=adagrad", ["optimizer", "adam, rmsprop, sgd"]),
        ("preset=fast", ["preset", "default, tutorial"]),
        ("colour=red", ['Unknown option "colour"', "epochs, lr"]),
        ("epochs", ['"epochs"', "epochs=300"]),
        ("predict=1,x", ["predict", '"x"']),
        ("predict=inf", ["predict", "finite"]),
        ("y=a,b", ["y", "one column"]),
        ("x=", ["x", "at least one column"]),
    ],
)
def test_errors_name_the_parameter_and_range(token: str, fragments: list[str]) -> None:
    with pytest.raises(ParamError) as caught:
        parse_params([token], LIMITS)
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_repeated_option_is_an_error() -> None:
    with pytest.raises(ParamError, match='"lr" is given twice'):
        parse_params(["lr=0.1", "lr=0.2"], LIMITS)
    with pytest.raises(ParamError, match="given twice"):
        parse_params(["lr=0.1", "learning_rate=0.2"], LIMITS)


def test_limits_drive_the_ranges() -> None:
    tight = Limits(max_epochs=50, max_batch_size=16, max_validation_split=0.3)
    with pytest.raises(ParamError, match="1 to 50"):
        parse_params(["epochs=51"], tight)
    assert parse_params(["epochs=50", "batch=16", "val=0.3"], tight).epochs == 50


def test_predict_values() -> None:
    assert parse_predict_values(["1", "2", "3.5"], LIMITS) == (1.0, 2.0, 3.5)
    assert parse_predict_values(["1,2,", "-3e2;4"], LIMITS) == (1.0, 2.0, -300.0, 4.0)
    for bad, fragment in [
        ([], "at least one number"),
        (["  "], "at least one number"),
        (["nan"], "finite"),
        (["-inf"], "finite"),
        (["1", "two"], '"two"'),
        ([",".join(["1"] * 51)], "at most 50"),
    ]:
        with pytest.raises(ParamError, match=fragment):
            parse_predict_values(bad, LIMITS)


def test_params_round_trip_through_json() -> None:
    params = parse_params(["epochs=3", "x=a,b", "y=c", "predict=1,2", "lr=0.5"], LIMITS)
    stored = json.loads(json.dumps(params.to_dict()))
    assert TrainParams.from_dict(stored) == params
    assert TrainParams.from_dict({**stored, "added_later": 1}) == params
    assert TrainParams.from_dict(TrainParams().to_dict()) == TrainParams()


def test_tutorial_recipe_is_the_seed_recipe() -> None:
    assert TUTORIAL.hidden_layers == (32, 32, 32)
    assert TUTORIAL.activation == "relu"
    assert (TUTORIAL.optimizer, TUTORIAL.learning_rate, TUTORIAL.lr_decay) == (
        "rmsprop",
        0.0099,
        "none",
    )
    assert TUTORIAL.loss == "mse"
    assert (TUTORIAL.epochs, TUTORIAL.batch_size) == (500, 32)
    assert TUTORIAL.scale is False
    assert TUTORIAL.validation_split == 0
    assert TUTORIAL.engine == "single"  # one network, not cross-validated members
    plan = schedule(TUTORIAL, 1000)
    assert (plan.batch_size, plan.repeats, plan.rounds, plan.passes) == (32, 1, 500, 500)
    assert plan.steps_per_round == 32 and plan.steps_per_execution == 1


def test_resolve_applies_overrides_to_the_preset() -> None:
    assert resolve(TrainParams(), LIMITS) == DEFAULT
    assert resolve(TrainParams(preset="tutorial"), LIMITS) == TUTORIAL
    recipe = resolve(
        TrainParams(
            preset="tutorial", epochs=7, learning_rate=0.5, optimizer="sgd", batch_size=8, seed=3
        ),
        LIMITS,
    )
    assert (recipe.epochs, recipe.learning_rate, recipe.optimizer) == (7, 0.5, "sgd")
    assert (recipe.batch_size, recipe.seed, recipe.scale) == (8, 3, False)
    assert resolve(TrainParams(validation_split=0.0), LIMITS).validation_split == 0.0


def test_repeating_rows_never_makes_a_huge_copy_of_a_big_table() -> None:
    plan = schedule(Recipe(name="test", epochs=5000), 1_000_000)
    assert plan.repeats == 1 and plan.passes == 5000
    small = schedule(Recipe(name="test", epochs=5000, batch_size=65536), 1000)
    assert small.repeats * 1000 <= 1_000_000 and small.passes == small.repeats * small.rounds


def test_a_single_network_needs_its_epochs() -> None:
    with pytest.raises(ValueError, match="needs its epochs"):
        schedule(Recipe(name="test"), 1000)


@pytest.mark.parametrize("epochs", [1, 5, 12, 30, 300, 500, 5000])
def test_user_epochs_are_exact_when_they_split_into_rounds(epochs: int) -> None:
    plan = schedule(Recipe(name="test", epochs=epochs), 1000)
    assert plan.passes == epochs
    assert plan.rounds <= 4 * DEFAULT.rounds


@pytest.mark.parametrize("epochs", [97, 997, 4999])
def test_awkward_epoch_counts_are_rounded_not_slow(epochs: int) -> None:
    plan = schedule(Recipe(name="test", epochs=epochs), 1000)
    assert abs(plan.passes - epochs) <= plan.repeats / 2
    assert plan.rounds <= 4 * DEFAULT.rounds


# -- fuzzing: whatever people type, the answer is parameters or one clear sentence ------------

_KEYS = st.sampled_from(
    [
        "epochs",
        "lr",
        "learning_rate",
        "optimizer",
        "batch",
        "val",
        "seed",
        "x",
        "y",
        "predict",
        "preset",
        "bogus",
        "",
    ]
)
_TOKENS = st.one_of(
    st.text(max_size=30),
    st.builds(lambda k, v: f"{k}={v}", _KEYS, st.text(max_size=20)),
    st.builds(lambda k, v: f"{k}={v!r}", _KEYS, st.floats(allow_nan=True, allow_infinity=True)),
)


@settings(max_examples=400, deadline=None)
# Commands reach the parser split on white space, as the bot splits them.
@given(st.lists(_TOKENS, max_size=8).map(lambda tokens: " ".join(tokens).split()))
def test_any_train_arguments_give_params_or_a_param_error(tokens: list[str]) -> None:
    try:
        params = parse_params(tokens, Limits())
    except ParamError as error:
        message = str(error)
        assert message and "\n" not in message and "Traceback" not in message
    else:
        assert TrainParams.from_dict(params.to_dict()) == params


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.one_of(st.text(max_size=15), st.floats().map(repr)), max_size=60).map(
        lambda tokens: " ".join(tokens).split()
    )
)
def test_any_predict_arguments_give_finite_values_or_a_param_error(tokens: list[str]) -> None:
    try:
        values = parse_predict_values(tokens, Limits())
    except ParamError as error:
        assert str(error)
    else:
        assert 0 < len(values) <= Limits().max_predict_values
        assert all(v == v and abs(v) != float("inf") for v in values)
