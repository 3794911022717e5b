"""What a step of a batched fit costs: Keras' fit (as shipped) against the same steps in one
scanned JAX program, for batches of 1 to N reference tables.

Keras 3 on JAX runs ``steps_per_execution`` as a Python loop over a compiled single step, each
step taking its batch from a host iterator. On a GPU, networks this small make that loop (the
dispatch and the batch's copy) the cost of a step. Here the same stacked network, masked loss
and AdamW run as ``lax.scan`` over a round's steps with the data on the device: one dispatch
per round. No callbacks on either side; the scanned trainer is a measurement of the ceiling,
not the product's engine (it does not match Keras' AdamW bit for bit).

    KERAS_BACKEND=jax python benchmarks/bench_steps.py [--tasks 1,64,512] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("KERAS_BACKEND", "jax")

from benchmarks.machine import describe  # noqa: E402


def measure(tasks_count: int, rounds: int) -> dict[str, float]:
    """Seconds per optimizer step, both ways, over ``rounds`` rounds after a compiling one."""
    from trainer import backend

    backend.configure()  # before Keras: XLA's flags (deterministic GPU ops) are set here
    import keras

    from trainer.learn.crossval import prepare
    from trainer.learn.members import _by_layer, _program
    from trainer.learn.recipes import DEFAULT
    from trainer.learn.stacked import MemberWeights
    from trainer.learn.stream import MemberStream
    from trainer.tables.dataset import read_dataset

    dataset = read_dataset((ROOT / "examples" / "fahrenheit.csv").read_bytes())
    prepared = [prepare(dataset, DEFAULT, None, 1e9) for _ in range(tasks_count)]
    tasks, plan = [p.task for p in prepared], prepared[0].plan
    if tasks_count == 1:
        tasks = [*tasks, tasks[0].as_padding()]  # rows of their own, as a batch has
    _, build = _program(tasks, DEFAULT, plan)
    network = build()
    start = _by_layer(MemberWeights.concatenate([t.start for t in tasks]))
    for name, arrays in start.items():
        network.get_layer(name).set_weights(arrays)
    steps = plan.steps_per_round
    # A round's batches as the product makes them (each table's own order), for the scan:
    # the tables' rows (batch, tables, features) widened to one copy per member.
    stream = MemberStream(tasks, plan, steps)
    batches = [stream[i] for i in range(steps)]
    member_tasks = [t for t, task in enumerate(tasks) for _ in range(task.members)]
    x = np.concatenate([b[0] for b in batches])[:, member_tasks]
    y = np.concatenate([b[1] for b in batches])

    def keras_rounds(epochs: int) -> None:
        network.fit(stream, epochs=epochs, shuffle=False, verbose=0)

    keras_rounds(1)  # compiles
    started = time.perf_counter()
    keras_rounds(rounds)  # one fit of several rounds, as the product's
    keras_step = (time.perf_counter() - started) / (rounds * steps)
    keras.backend.clear_session()

    scanned = _Scanned(start, x, y, plan.batch_size, DEFAULT)
    scanned.round()  # compiles
    started = time.perf_counter()
    for _ in range(rounds):
        scanned.round()
    scan_step = (time.perf_counter() - started) / (rounds * steps)
    members = sum(t.members for t in tasks)
    return {"tasks": tasks_count, "members": members, "steps": steps,
            "keras": keras_step, "scan": scan_step}  # fmt: skip


class _Scanned:
    """The stacked network's round as one compiled ``lax.scan`` over shuffled batches."""

    def __init__(self, start: dict[str, list[np.ndarray]], x: np.ndarray, y: np.ndarray,
                 batch: int, recipe: Any) -> None:  # fmt: skip
        import jax
        import jax.numpy as jnp

        names = ["linear", *sorted(n for n in start if n.startswith("hidden_")), "prediction"]
        self.params = {n: [jnp.asarray(a) for a in start[n]] for n in names}
        self.moments = jax.tree.map(lambda p: (jnp.zeros_like(p), jnp.zeros_like(p)), self.params)
        self.x, self.y = jnp.asarray(x), jnp.asarray(y)  # resident for the whole fit
        self.key = jax.random.key(0)
        self.count = jnp.zeros((), jnp.int32)
        rate, beta_2, decay = recipe.learning_rate, recipe.adam_beta_2, recipe.weight_decay
        steps = len(x) // batch

        def loss(params: dict[str, Any], xb: Any, yb: Any) -> Any:
            members = yb.shape[1] // 2
            features = jnp.transpose(xb, (1, 0, 2))  # (members, batch, features)
            kernel, bias = params["linear"]
            line = jnp.matmul(features, kernel) + bias[:, None, :]
            hidden = features
            for name in names[1:-1]:
                kernel, bias = params[name]
                hidden = jnp.maximum(jnp.matmul(hidden, kernel) + bias[:, None, :], 0.0)
            kernel, bias = params["prediction"]
            out = (line + jnp.matmul(hidden, kernel) + bias[:, None, :])[..., 0].T
            target, weight = yb[:, :members], yb[:, members:]  # weights: 1 / a table's members
            return jnp.mean(jnp.sum(weight * jnp.square(target - out), axis=-1))

        def step(state: Any, batch_rows: Any) -> Any:
            params, moments, count = state
            grads = jax.grad(loss)(params, self.x[batch_rows], self.y[batch_rows])
            grads["linear"] = [jnp.zeros_like(g) for g in grads["linear"]]  # frozen path
            count = count + 1

            def update(p: Any, g: Any, m: Any, is_kernel: bool) -> Any:
                first = 0.9 * m[0] + 0.1 * g
                second = beta_2 * m[1] + (1 - beta_2) * g * g
                unbiased = (
                    first / (1 - 0.9**count) / (jnp.sqrt(second / (1 - beta_2**count)) + 1e-7)
                )
                p = p - rate * decay * p if is_kernel else p
                return p - rate * unbiased, (first, second)

            new_params, new_moments = {}, {}
            for name, pair in params.items():
                triples = zip(pair, grads[name], moments[name], strict=True)
                updated = [update(p, g, m, i == 0) for i, (p, g, m) in enumerate(triples)]
                new_params[name] = [u[0] for u in updated]
                new_moments[name] = [u[1] for u in updated]
            new_params["linear"] = params["linear"]
            return (new_params, new_moments, count), None

        @jax.jit
        def one_round(params: Any, moments: Any, count: Any, key: Any) -> Any:
            key, shuffle = jax.random.split(key)
            order = jax.random.permutation(shuffle, steps * batch).reshape(steps, batch)
            (params, moments, count), _ = jax.lax.scan(step, (params, moments, count), order)
            return params, moments, count, key

        self._round = one_round

    def round(self) -> None:
        self.params, self.moments, self.count, self.key = self._round(
            self.params, self.moments, self.count, self.key
        )
        self.count.block_until_ready()


def main(sizes: list[int], rounds: int) -> str:
    from trainer import backend

    rows = [measure(n, rounds) for n in sizes]
    lines = [
        f"### A step of a batched fit ({backend.device_description()})",
        "",
        f"Machine: {describe()}. Reference table, default recipe's batch and round; time per"
        f" optimizer step over {rounds} rounds after a compiling one, no callbacks. Keras: fit as"
        " shipped (one fit, a Python loop over a compiled step, batches from the host); scan:"
        " the same network, masked loss and AdamW as one lax.scan per round, data on the"
        " device.",
        "",
        "| tables | members | steps a round | Keras | scan | Keras ÷ scan | scan: member-steps/s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['tasks']} | {r['members']} | {r['steps']} | {r['keras'] * 1e3:.2f} ms"
            f" | {r['scan'] * 1e3:.2f} ms | {r['keras'] / r['scan']:.1f}×"
            f" | {r['members'] / r['scan']:,.0f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", default="1,8,64", help="tables per batch, comma-separated")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per size")
    args = parser.parse_args()
    sys.stdout.write(main([int(n) for n in args.tasks.split(",")], args.rounds))
