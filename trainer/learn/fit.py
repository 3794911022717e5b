"""What a training produced: the model, how it did, and the facts to tell the chat about it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trainer.judge.choice import Choice
from trainer.judge.verdicts import Verdict
from trainer.model_file.inference import inference_function, predict_scaled


@dataclass
class Fit:
    """A trained model with what is needed to use it, judge it and show it.

    ``metrics["validation"]`` are measured on rows the model never trained on: the
    out-of-fold predictions of the cross-validation members, or a held-out share.
    """

    model: Any
    scaling: dict[str, Any]
    feature_names: list[str]
    target_name: str
    feature_ranges: list[tuple[float, float]]
    history: dict[str, list[float]]
    metrics: dict[str, dict[str, float | None] | None]
    baseline_metrics: dict[str, dict[str, float | None] | None]
    beats_baseline: bool
    verdict: Verdict
    fit_seconds: float
    passes_run: int
    backend: str
    device: str
    recipe: dict[str, Any]
    n_train: int = 0
    n_validation: int = 0
    baseline: dict[str, Any] = field(default_factory=dict)
    # "network" or "line": which model the chat gets, and the figures it was chosen by (None
    # for a single network, which is not chosen against the line).
    model_kind: str = "network"
    choice: Choice | None = None
    # Cross-validation details: folds, out-of-fold MSE of network and line, spread.
    validation: dict[str, Any] = field(default_factory=dict)
    best_pass: int | None = None  # where the kept weights come from (the loss plot marks it)
    # Per row: the prediction of a model that did not train on it (NaN where none did).
    held_out: np.ndarray | None = None
    # How sure and what drives it, from the held-out rows (trainer.learn.explain); None when
    # nothing was held out. ``interval``: {"level", "half_width" (the median over the training
    # rows, target units), "varies"}; its model is stored in ``scaling["interval"]``.
    # ``importance``: each input column's share, most important first.
    interval: dict[str, Any] | None = None
    importance: dict[str, float] | None = None
    # Issue 20: a classifier ("classification") predicts ``classes`` (in the order of its
    # outputs); its held-out rows' probabilities, and how rare classes were weighed.
    task: str = "regression"
    classes: list[str] | None = None
    held_out_proba: np.ndarray | None = None
    imbalance: dict[str, Any] | None = None
    _network: Any = field(default=None, repr=False)

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Predicted targets (original units) for rows of raw ``features``."""
        if self._network is None:
            self._network = inference_function(self.model)
        return predict_scaled(self._network, self.scaling, features)

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """A classifier's (rows, classes) probabilities for rows of raw ``features``."""
        from trainer.model_file.classes import probabilities_of

        return probabilities_of(self.model, np.asarray(features, np.float64))

    def summary(self) -> dict[str, Any]:
        """Everything but the model, JSON-ready."""
        return {
            "feature_names": self.feature_names,
            "target_name": self.target_name,
            "feature_ranges": [list(pair) for pair in self.feature_ranges],
            "metrics": self.metrics,
            "baseline_metrics": self.baseline_metrics,
            "baseline": self.baseline,
            "beats_baseline": self.beats_baseline,
            "model_kind": self.model_kind,
            "choice": self.choice.to_dict() if self.choice is not None else None,
            "validation": self.validation,
            "verdict": self.verdict.to_dict(),
            "fit_seconds": self.fit_seconds,
            "epochs_run": self.passes_run,
            "best_epoch": self.best_pass,
            "n_train": self.n_train,
            "n_validation": self.n_validation,
            "backend": self.backend,
            "device": self.device,
            "recipe": self.recipe,
            "scaling": self.scaling,
            "interval": self.interval,
            "importance": self.importance,
            "task": self.task,
            "classes": self.classes,
            "imbalance": self.imbalance,
        }
