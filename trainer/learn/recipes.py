"""Training settings as data: the tutorial's recipe, the default one, and user overrides.

The tutorial recipe is the article's, one network trained for 500 epochs. The default recipe
trains cross-validated members together (trainer.learn.members), with a step budget that grows with
the table and early stopping on the members' held-out rows.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from trainer.limits import Limits
from trainer.params import TrainParams


@dataclass(frozen=True)
class Recipe:
    """How to build and train the network."""

    name: str
    # "single": one Keras network, as in the tutorial; "stacked": cross-validated members
    # with a linear path, trained as one program (trainer.learn.stacked), or the line if it wins.
    engine: str = "single"
    hidden_layers: tuple[int, ...] = (32, 32, 32)
    activation: str = "relu"
    loss: str = "mse"
    optimizer: str = "adam"
    learning_rate: float = 0.003
    # Adam's second-moment decay; 0.95 adapts faster than Keras' 0.999 on these small problems.
    adam_beta_2: float = 0.95
    lr_decay: str = "cosine"  # "cosine" (over the run) or "none"
    # Passes over the data. A single network needs them; for stacked members None derives
    # them from step_budget (trainer.learn.rounds.plan_members), and early stopping ends the run.
    epochs: int | None = None
    step_budget: int = 1600
    batch_size: int | None = None  # None: the tutorial's 32 (single), or by rows (stacked)
    validation_split: float = 0.2
    scale: bool = True  # standardise inputs and target with the training rows' mean and std
    steps_per_execution: int | None = 128  # None: one compiled execution per round
    rounds: int = 6  # Keras epochs per run: validation and early-stopping checkpoints
    seed: int = 0
    # "auto" is Keras' own choice; "jax-only" uses XLA on JAX but not on TensorFlow, where on a
    # CPU it added over a second of compiling per model and made no step faster.
    jit_compile: str = "jax-only"
    # The stacked engine's own settings.
    folds: int = 5  # members, each holding out one fold; their average is the model
    weight_decay: float = 0.0  # AdamW's decoupled decay on the MLP's kernels
    max_passes: int = 500  # passes over the rows at most, whatever step_budget says
    # Rows seen (rows x passes) at most: big tables need few passes, and each costs them much.
    max_row_passes: int = 500_000
    checkpoints: int = 30  # rounds in a full run: held-out scoring and early stopping
    patience_share: float = 0.2  # stop when this share of the rounds brought no improvement
    # The network is kept only when its out-of-fold error is this much below the line's, and
    # by ``line_z`` standard errors of the paired per-row difference (trainer.judge.choice).
    line_margin: float = 0.01
    line_z: float = 2.0
    # "piecewise_linear": the members' MLPs see each real input beside its piecewise-linear
    # encoding in up to ``encoding_bins`` quantile bins (trainer.learn.encoding); "none": x.
    encoding: str = "none"
    encoding_bins: int = 16

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        data = asdict(self)
        data["hidden_layers"] = list(self.hidden_layers)
        return data


# The seed tutorial as written: Dense 32-32-32-1 relu, RMSprop(0.0099), MSE, 500 epochs,
# batch 32, raw x and y, no validation, no early stopping, one step per execution.
TUTORIAL = Recipe(
    name="tutorial",
    optimizer="rmsprop",
    learning_rate=0.0099,
    lr_decay="none",
    epochs=500,
    batch_size=32,
    validation_split=0.0,
    scale=False,
    steps_per_execution=1,
    rounds=500,
    jit_compile="auto",
)

# Five cross-validation members, each the tutorial's network beside a linear path started at
# the ridge solution; AdamW with decoupled weight decay on mini-batches, the learning rate
# cosine-decayed per round, stopped at the round with the lowest pooled out-of-fold error.
# The average of the members is the model, unless the ridge line did as well out of fold.
DEFAULT = Recipe(
    name="default",
    engine="stacked",
    learning_rate=0.005,
    adam_beta_2=0.99,
    step_budget=3000,
    # Decoupled decay per step is rate x decay (1e-3 of each MLP kernel): over a run it pulls
    # the MLP towards "no correction to the line", which held-out rows reward on curved tables.
    weight_decay=0.2,
    # Fewer, longer executions: on TensorFlow 64 steps per call took 0.6x the CPU time of 16.
    steps_per_execution=64,
    checkpoints=40,
    patience_share=0.15,
    encoding="piecewise_linear",
)

PRESETS = {"default": DEFAULT, "tutorial": TUTORIAL}

# A single network's round repeats the rows (fewer Keras epochs), up to this many values.
MAX_VALUES_PER_ROUND = 1_000_000
SINGLE_BATCH_SIZE = 32  # the tutorial's, and Keras' own default


@dataclass(frozen=True)
class Schedule:
    """The concrete training plan for a table of a given size.

    The training rows are repeated ``repeats`` times per Keras epoch so one Keras epoch (a
    "round") covers several passes; ``passes == rounds * repeats`` is what users call epochs.
    """

    batch_size: int
    repeats: int
    rounds: int
    steps_per_round: int
    steps_per_execution: int

    @property
    def passes(self) -> int:
        """Passes over the training rows (epochs, as users count them)."""
        return self.repeats * self.rounds

    @property
    def total_steps(self) -> int:
        """Optimizer steps in the whole run."""
        return self.rounds * self.steps_per_round


def resolve(params: TrainParams, limits: Limits = Limits()) -> Recipe:  # noqa: B008
    """Apply the user's overrides to the chosen preset."""
    recipe = PRESETS[params.preset]
    overrides: dict[str, Any] = {}
    if params.epochs is not None:
        overrides["epochs"] = min(params.epochs, limits.max_epochs)
    if params.learning_rate is not None:
        overrides["learning_rate"] = params.learning_rate
    if params.optimizer is not None:
        overrides["optimizer"] = params.optimizer
    if params.batch_size is not None:
        overrides["batch_size"] = min(params.batch_size, limits.max_batch_size)
    if params.validation_split is not None:
        overrides["validation_split"] = min(params.validation_split, limits.max_validation_split)
    if params.seed is not None:
        overrides["seed"] = params.seed
    return replace(recipe, **overrides)


def schedule(recipe: Recipe, n_rows: int, n_features: int = 1) -> Schedule:
    """Plan batch size, repeats and rounds of a single network's epochs on ``n_rows`` rows."""
    if recipe.epochs is None:
        raise ValueError(f"recipe {recipe.name!r} trains one network, which needs its epochs")
    n_rows = max(1, n_rows)
    batch = recipe.batch_size or SINGLE_BATCH_SIZE
    passes = recipe.epochs
    # Capped so that repeating the rows cannot make a huge copy of a big or wide table.
    target = max(1, min(passes // recipe.rounds, MAX_VALUES_PER_ROUND // (n_rows * n_features)))
    repeats = _largest_divisor_at_most(passes, target)
    if passes // repeats > 4 * recipe.rounds:
        # No divisor near the target (e.g. a prime): run the nearest multiple instead of
        # paying Keras' per-epoch overhead hundreds of times.
        repeats = target
        passes = repeats * max(1, round(passes / repeats))
    rounds = passes // repeats
    steps_per_round = math.ceil(n_rows * repeats / batch)
    per_execution = min(recipe.steps_per_execution or steps_per_round, steps_per_round)
    return Schedule(
        batch_size=batch,
        repeats=repeats,
        rounds=rounds,
        steps_per_round=steps_per_round,
        steps_per_execution=per_execution,
    )


def _largest_divisor_at_most(number: int, limit: int) -> int:
    return max(d for d in range(1, max(1, limit) + 1) if number % d == 0)
