"""Inputs a network can use: the default recipe's members see each real input beside its
piecewise-linear encoding, 0/1 columns stay 0/1, and the saved .keras predicts as the bot."""

from __future__ import annotations

import numpy as np
import pytest

from trainer import examples
from trainer.learn.encoding import fit_piecewise_linear
from trainer.learn.fit import Fit
from trainer.learn.training import train
from trainer.model_file.keras_file import load_model_bytes, save_model_bytes
from trainer.model_file.predictor import Predictor
from trainer.params import TrainParams
from trainer.tables.dataset import Dataset, read_dataset


def _layers(result: Fit) -> list[str]:
    return [layer.name for layer in result.model.layers]


@pytest.fixture(scope="module")
def curve() -> tuple[Dataset, Fit]:
    dataset = read_dataset(examples.curve_csv("square", 200, seed=2))
    return dataset, train(dataset, TrainParams(seed=0, epochs=40))


def test_the_default_networks_see_the_encoding(curve: tuple[Dataset, Fit]) -> None:
    _, result = curve
    assert result.model_kind == "network"
    assert {"piecewise_linear", "piecewise_linear_clip", "with_piecewise_linear"} <= set(
        _layers(result)
    )
    # The line reads the standardised inputs alone.
    assert result.model.get_layer("line").get_weights()[0].shape == (1, 1)


def test_the_tutorial_network_is_the_articles(curve: tuple[Dataset, Fit]) -> None:
    dataset, _ = curve
    result = train(dataset, TrainParams(seed=0, preset="tutorial", epochs=2))
    assert not any("piecewise" in name for name in _layers(result))
    dense = [layer for layer in result.model.layers if type(layer).__name__ == "Dense"]
    assert [layer.units for layer in dense] == [32, 32, 32, 1]
    assert dense[0].get_weights()[0].shape == (1, 32)


def test_the_keras_file_predicts_as_trainbot_predict(curve: tuple[Dataset, Fit]) -> None:
    dataset, result = curve
    data = save_model_bytes(result, dataset.plan)
    grid = np.linspace(-3.5, 3.5, 57)[:, None]
    bot = np.array([p.predicted for p in Predictor.from_model_file(data).predict(grid[:, 0])])
    keras_file = np.asarray(load_model_bytes(data)(grid.astype(np.float32))).reshape(-1)
    spread = float(np.std(dataset.target))
    np.testing.assert_allclose(keras_file, bot, atol=1e-3 * spread)
    np.testing.assert_allclose(result.predict(grid), bot, atol=1e-6 * spread)


def test_bins_follow_the_values() -> None:
    rng = np.random.default_rng(0)
    x = np.column_stack(
        [
            rng.normal(size=500),  # real: 16 bins
            rng.integers(0, 6, 500),  # six values: 5 bins
            rng.integers(0, 2, 500),  # 0/1: none
            rng.integers(0, 3, 500),  # three values: none
        ]
    ).astype(float)
    encoding = fit_piecewise_linear(x, bins=16)
    assert encoding is not None and encoding.columns == (0, 1)
    assert [len(edges) - 1 for edges in encoding.edges] == [16, 5]
    encoded = encoding.encode(x)
    assert encoded.shape == (500, 21) and encoded.min() >= 0 and encoded.max() <= 1
    # A value's bins add up to where it sits: below its bin 1, inside a share, above it 0.
    first = encoded[:, :16]
    edges = np.asarray(encoding.edges[0])
    position = np.interp(x[:, 0], edges, np.arange(17))
    np.testing.assert_allclose(first.sum(axis=1), position, atol=1e-9)


def test_many_inputs_get_fewer_bins_or_none() -> None:
    rng = np.random.default_rng(1)
    wide = fit_piecewise_linear(rng.normal(size=(100, 100)), bins=16)
    assert wide is not None and max(len(e) - 1 for e in wide.edges) == 5
    assert fit_piecewise_linear(rng.normal(size=(100, 300)), bins=16) is None
    # Very long tables too: 100,000 rows of two inputs get 5 bins each.
    long = fit_piecewise_linear(rng.normal(size=(100_000, 2)), bins=16)
    assert long is not None and [len(e) - 1 for e in long.edges] == [5, 5]


def test_levels_and_gap_marks_stay_zero_one_in_training() -> None:
    rng = np.random.default_rng(5)
    n = 400
    region = rng.choice(["north", "south", "east", "far"], n, p=[0.5, 0.3, 0.195, 0.005])
    size = rng.uniform(0, 10, n)
    y = size * 2 + (region == "north") * 3 + rng.normal(0, 1, n)
    rows = "\n".join(f"{r},{s:.3f},{t:.3f}" for r, s, t in zip(region, size, y, strict=True))
    dataset = read_dataset(f"region,size,y\n{rows}\n".encode())
    result = train(dataset, TrainParams(seed=0, epochs=4))
    levels = [i for i, name in enumerate(dataset.feature_names) if name.startswith("region=")]
    assert levels and [result.scaling["x_std"][i] for i in levels] == [1.0] * len(levels)
    assert [result.scaling["x_mean"][i] for i in levels] == [0.0] * len(levels)
    size_column = dataset.feature_names.index("size")
    assert result.scaling["x_std"][size_column] == pytest.approx(float(np.std(size)), rel=1e-6)


def test_rare_levels_of_a_big_table_are_pooled_and_said() -> None:
    from trainer import words

    kinds = ["a", "b", "c"] * 1000 + ["rare1", "rare2", "rare2"]
    rows = "\n".join(f"{kind},{i % 7},{i % 11}" for i, kind in enumerate(kinds))
    dataset = read_dataset(f"kind,size,y\n{rows}\n".encode())
    column = dataset.plan.column("kind")
    assert column is not None and column.levels == ("a", "b", "c") and column.other
    assert words.column_notes(dataset.notes)[0] == (
        "kind: a category, one column for each of 3 values, 2 other values counted as other "
        "(each on fewer than 4 rows)"
    )
    # A small table keeps every level, those seen once too.
    small = read_dataset(
        f"kind,size,y\n{chr(10).join(rows.splitlines()[:30])}\nrare1,1,2\n".encode()
    )
    small_column = small.plan.column("kind")
    assert small_column is not None and "rare1" in small_column.levels


def test_tables_of_one_input_with_different_encodings_train_in_one_batch() -> None:
    from trainer.learn.batch import TrainRequest, train_batch

    rng = np.random.default_rng(3)
    smooth = rng.uniform(-2, 2, (120, 1))  # 16 bins
    steps = rng.integers(0, 6, (120, 1)).astype(float)  # six values: 5 bins
    requests = [
        TrainRequest(
            Dataset(x, x[:, 0] ** 2 + rng.normal(0, 0.1, 120), ["x"], "y"),
            TrainParams(seed=0, epochs=4),
        )
        for x in (smooth, steps)
    ]
    fits = train_batch(requests)
    assert all(isinstance(fit, Fit) for fit in fits), fits


def test_the_keras_file_predicts_as_trainbot_predict_on_the_other_backend_too() -> None:
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from trainer.backend import backend_name

    other = "jax" if backend_name() == "tensorflow" else "tensorflow"
    code = (
        "import json, numpy as np\n"
        "from trainer import examples\n"
        "from trainer.learn.training import train\n"
        "from trainer.model_file.keras_file import load_model_bytes, save_model_bytes\n"
        "from trainer.model_file.predictor import Predictor\n"
        "from trainer.params import TrainParams\n"
        "from trainer.tables.dataset import read_dataset\n"
        "table = read_dataset(examples.curve_csv('square', 200, seed=2))\n"
        "result = train(table, TrainParams(seed=0, epochs=40))\n"
        "data = save_model_bytes(result, table.plan)\n"
        "grid = np.linspace(-3.5, 3.5, 57)\n"
        "bot = [p.predicted for p in Predictor.from_model_file(data).predict(grid)]\n"
        "model = load_model_bytes(data)\n"
        "keras_file = np.asarray(model(grid[:, None].astype(np.float32))).reshape(-1)\n"
        "print(json.dumps({'kind': result.model_kind, 'layers': [l.name for l in model.layers],\n"
        "    'gap': float(np.max(np.abs(keras_file - np.array(bot)))),\n"
        "    'spread': float(np.std(table.target))}))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "KERAS_BACKEND": other},
        cwd=Path(__file__).parents[1],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    found = json.loads(completed.stdout.strip().splitlines()[-1])
    assert found["kind"] == "network" and "piecewise_linear" in found["layers"]
    assert found["gap"] <= 1e-3 * found["spread"]
