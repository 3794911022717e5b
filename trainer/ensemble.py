"""Train stacked members (trainer.stacked) with checkpoints, early stopping and progress.

The plan grows with the table instead of being a fixed budget: mini-batches of about a
sixteenth of the rows (16 to 1,024), and at most ``max_steps`` optimizer steps, spread over
about ``checkpoints`` rounds. After each round the members' held-out rows are scored together
(pooled out-of-fold error) and training stops once that has not improved for ``patience``
rounds; the best round's weights are kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trainer.model import make_optimizer
from trainer.pool import NETWORKS, NetworkKey, NetworkPool
from trainer.progress import Reporter
from trainer.recipes import Recipe
from trainer.stacked import MemberWeights, build_members, keras, masked_mse

# Rows of the training loss shown per round: an estimate, so a sample is enough.
LOSS_SAMPLE_ROWS = 2048


@dataclass(frozen=True)
class MemberPlan:
    """Batch size, padding and rounds for stacked members on a table of ``rows`` rows."""

    rows: int
    batch_size: int
    repeats: int  # passes over the rows per round (one Keras epoch)
    max_rounds: int
    patience: int
    steps_per_execution: int

    @property
    def padded_rows(self) -> int:
        """Rows per pass, padded with masked-out rows to whole batches."""
        return math.ceil(self.rows / self.batch_size) * self.batch_size

    @property
    def steps_per_round(self) -> int:
        return self.padded_rows // self.batch_size * self.repeats

    @property
    def max_passes(self) -> int:
        return self.repeats * self.max_rounds


def plan_members(recipe: Recipe, rows: int) -> MemberPlan:
    """The plan for ``rows`` rows: user overrides (epochs, batch size) win."""
    rows = max(1, rows)
    batch = recipe.batch_size or int(np.clip(1 << max(0, round(math.log2(rows / 16))), 16, 1024))
    batch = min(batch, 1 << math.ceil(math.log2(rows)))
    steps_per_pass = math.ceil(rows / batch)
    if recipe.epochs is not None:
        passes = recipe.epochs
    else:
        passes = int(np.clip(recipe.step_budget // steps_per_pass, 4, recipe.max_passes))
    repeats = max(1, round(passes / recipe.checkpoints))
    max_rounds = max(1, math.ceil(passes / repeats))
    patience = max(2, math.ceil(recipe.patience_share * max_rounds))
    steps_per_round = steps_per_pass * repeats
    per_execution = min(recipe.steps_per_execution or steps_per_round, steps_per_round)
    return MemberPlan(
        rows=rows,
        batch_size=batch,
        repeats=repeats,
        max_rounds=max_rounds,
        patience=patience,
        steps_per_execution=per_execution,
    )


@dataclass
class MembersFit:
    """What training the members gave: the best round's weights and the curves."""

    weights: MemberWeights
    history: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int = 0  # passes at the kept round
    epochs_run: int = 0  # passes actually run
    stopped_early: bool = False
    cancelled: bool = False


def initial_weights(
    n_features: int, members: int, hidden_layers: tuple[int, ...], seed: int
) -> MemberWeights:
    """Glorot-uniform hidden layers and a zero output layer, from numpy's seeded generator.

    Drawn here rather than by Keras so that a seed starts the same members on every backend.
    """
    rng = np.random.default_rng(seed)
    hidden = []
    fan_in = n_features
    for units in hidden_layers:
        limit = math.sqrt(6.0 / (fan_in + units))
        kernel = rng.uniform(-limit, limit, (members, fan_in, units)).astype(np.float32)
        hidden.append((kernel, np.zeros((members, units), np.float32)))
        fan_in = units
    return MemberWeights(
        linear=(
            np.zeros((members, n_features, 1), np.float32),
            np.zeros((members, 1), np.float32),
        ),
        hidden=hidden,
        output=(np.zeros((members, fan_in, 1), np.float32), np.zeros((members, 1), np.float32)),
    )


def fit_members(
    x: np.ndarray,
    y: np.ndarray,
    train_mask: np.ndarray,
    val_mask: np.ndarray,
    start: MemberWeights,
    recipe: Recipe,
    plan: MemberPlan,
    *,
    reporter: Reporter,
    loss_scale: float = 1.0,
    pool: NetworkPool = NETWORKS,
) -> MembersFit:
    """Train members from ``start`` on the rows each one's ``train_mask`` gives it.

    ``x`` is (rows, features), shared by all members; ``y`` is (rows,). Masks are
    (rows, members). ``loss_scale`` turns losses back into the target's units².
    """
    members = train_mask.shape[1]
    n_features = x.shape[1]
    key = NetworkKey.of(
        n_features,
        recipe,
        total_steps=0,  # the learning rate is set per round, so no step count is compiled in
        steps_per_execution=plan.steps_per_execution,
        members=members,
        batch_size=plan.batch_size,
    )

    def build() -> Any:
        network = build_members(n_features, members, recipe.hidden_layers, shared_rows=True)
        optimizer = make_optimizer(recipe, total_steps=None)
        # Decay pulls the MLP towards "no correction to the line"; biases stay free.
        optimizer.exclude_from_weight_decay(var_names=["bias"])
        network.compile(
            optimizer=optimizer,
            loss=masked_mse,
            steps_per_execution=plan.steps_per_execution,
            jit_compile=_jit_compile(recipe),
        )
        network.optimizer.build(network.trainable_variables)
        # Building the loss now spares fit() its first-call symbolic build, which takes a batch
        # from the shuffled data: a new network would then shuffle unlike a pooled one.
        sample = np.zeros((1, n_features), np.float32)
        network.compute_loss(
            x=sample, y=np.zeros((1, 2 * members), np.float32), y_pred=network(sample)
        )
        return network

    x_fit, y_fit = _padded(x, y, train_mask, plan)
    monitor = _RoundMonitor(
        x=x, y=y, train_mask=train_mask, val_mask=val_mask, plan=plan,
        reporter=reporter, loss_scale=loss_scale, seed=recipe.seed,
    )  # fmt: skip
    callbacks: list[Any] = [
        keras.callbacks.LearningRateScheduler(lambda round_: _rate(recipe, plan, round_)),
        monitor,
    ]
    if val_mask.any() and recipe.epochs is None:
        # Reads the pooled held-out error that the monitor, listed first, writes into the logs.
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=plan.patience, restore_best_weights=True
            )
        )
    with pool.borrow(key, build, _by_layer(start)) as network:
        keras.utils.set_random_seed(recipe.seed)
        network.fit(
            x_fit,
            y_fit,
            batch_size=plan.batch_size,
            epochs=plan.max_rounds,
            shuffle=True,
            verbose=0,
            callbacks=callbacks,
        )
        weights = MemberWeights.from_model(network)
    rounds = monitor.rounds_done
    best_round = _best_round(monitor.history["val_loss"]) if len(callbacks) > 2 else rounds
    return MembersFit(
        weights=weights,
        history=monitor.history,
        best_epoch=best_round * plan.repeats,
        epochs_run=rounds * plan.repeats,
        stopped_early=rounds < plan.max_rounds and not reporter.cancelled,
        cancelled=reporter.cancelled,
    )


def _rate(recipe: Recipe, plan: MemberPlan, round_: int) -> float:
    """Cosine from the recipe's rate down to a tenth of it over the planned rounds."""
    if recipe.lr_decay != "cosine" or plan.max_rounds <= 1:
        return recipe.learning_rate
    progress = min(1.0, round_ / (plan.max_rounds - 1))
    return recipe.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def _best_round(val_losses: list[float]) -> int:
    return int(np.argmin(val_losses)) + 1 if val_losses else 0


def _padded(
    x: np.ndarray, y: np.ndarray, train_mask: np.ndarray, plan: MemberPlan
) -> tuple[np.ndarray, np.ndarray]:
    """Rows padded to whole batches and repeated for a round; targets packed with the masks."""
    members = train_mask.shape[1]
    padded = plan.padded_rows
    x_pad = np.zeros((padded, x.shape[1]), np.float32)
    x_pad[: len(x)] = x
    packed = np.zeros((padded, 2 * members), np.float32)
    packed[: len(y), :members] = np.asarray(y, np.float32)[:, None]
    packed[: len(y), members:] = train_mask
    return np.tile(x_pad, (plan.repeats, 1)), np.tile(packed, (plan.repeats, 1))


def _by_layer(weights: MemberWeights) -> dict[str, list[np.ndarray]]:
    """Weights by the stacked model's layer names."""
    layers = {"linear": list(weights.linear), "prediction": list(weights.output)}
    for number, (kernel, bias) in enumerate(weights.hidden, start=1):
        layers[f"hidden_{number}"] = [kernel, bias]
    return layers


def _jit_compile(recipe: Recipe) -> bool | str:
    from trainer.backend import backend_name

    if recipe.jit_compile == "jax-only":
        return backend_name() == "jax"
    return recipe.jit_compile


class _RoundMonitor(keras.callbacks.Callback):
    """After each round: pooled held-out error for early stopping, curves, progress, cancel."""

    def __init__(
        self,
        *,
        x: np.ndarray,
        y: np.ndarray,
        train_mask: np.ndarray,
        val_mask: np.ndarray,
        plan: MemberPlan,
        reporter: Reporter,
        loss_scale: float,
        seed: int,
    ) -> None:
        super().__init__()
        self.x, self.y = x, np.asarray(y, np.float64)
        self.val_rows = [np.flatnonzero(val_mask[:, m]) for m in range(val_mask.shape[1])]
        rng = np.random.default_rng(seed)
        self.loss_rows = [
            _sample(np.flatnonzero(train_mask[:, m]), LOSS_SAMPLE_ROWS, rng)
            for m in range(train_mask.shape[1])
        ]
        self.plan = plan
        self.reporter = reporter
        self.loss_scale = loss_scale
        self.history: dict[str, list[float]] = {"epoch": [], "loss": [], "val_loss": []}
        self.rounds_done = 0
        self.last_loss = math.nan
        self.last_val: float | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.reporter.start()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        steps = self.rounds_done * self.plan.steps_per_round + batch + 1
        self.reporter.maybe_report(steps, self.last_loss, self.last_val)
        if self.reporter.cancelled:
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs if logs is not None else {}
        if self.reporter.cancelled:
            logs.setdefault("val_loss", math.inf)  # keeps EarlyStopping quiet
            return
        self.rounds_done = epoch + 1
        weights = MemberWeights.from_model(self.model)
        self.last_loss = self._pooled(weights, self.loss_rows) * self.loss_scale
        self.history["epoch"].append(float(self.rounds_done * self.plan.repeats))
        self.history["loss"].append(self.last_loss)
        if any(len(rows) for rows in self.val_rows):
            val = self._pooled(weights, self.val_rows)
            logs["val_loss"] = val
            self.last_val = val * self.loss_scale
            self.history["val_loss"].append(self.last_val)
        self.reporter.maybe_report(
            self.rounds_done * self.plan.steps_per_round, self.last_loss, self.last_val
        )
        if self.reporter.cancelled:
            self.model.stop_training = True

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if not self.reporter.cancelled:
            self.reporter.report(
                self.rounds_done * self.plan.steps_per_round, self.last_loss, self.last_val
            )

    def _pooled(self, weights: MemberWeights, rows_by_member: list[np.ndarray]) -> float:
        """Mean squared error over every member's given rows together."""
        total, count = 0.0, 0
        for member, rows in enumerate(rows_by_member):
            if len(rows) == 0:
                continue
            predicted = weights.member(member).predict(self.x[rows])[:, 0]
            total += float(np.sum((predicted - self.y[rows]) ** 2))
            count += len(rows)
        return total / count if count else math.nan


def _sample(rows: np.ndarray, limit: int, rng: np.random.Generator) -> np.ndarray:
    return rows if len(rows) <= limit else np.sort(rng.choice(rows, limit, replace=False))
