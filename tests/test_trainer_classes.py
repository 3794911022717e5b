"""Class targets (issue 20): the task inferred or overridden, the refusals, the logistic floor
against scikit-learn, the metrics, and a multiclass table trained for a few epochs."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    log_loss,
    roc_auc_score,
)

from trainer.errors import DatasetError
from trainer.judge.classes import class_metrics, fit_logistic, network_wins
from trainer.learn.training import train
from trainer.limits import Limits
from trainer.params import TrainParams
from trainer.progress import Cancelled, Progress
from trainer.tables.checks import check_training_table
from trainer.tables.dataset import read_dataset


def _csv(header: str, rows: list[str]) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def _yes_no(n: int = 60) -> bytes:
    rng = np.random.default_rng(3)
    rows = []
    for _ in range(n):
        age, sex = rng.uniform(1, 80), rng.choice(["male", "female"])
        p = 1 / (1 + np.exp(-(1.5 - 0.04 * age + 1.5 * (sex == "female"))))
        rows.append(f"{age:.1f},{sex},{'yes' if rng.uniform() < p else 'no'}")
    return _csv("age,sex,survived", rows)


def test_text_labels_and_two_values_are_classes_other_numbers_are_not() -> None:
    yes_no = read_dataset(_yes_no())
    assert (yes_no.task, yes_no.classes) == ("classification", ["no", "yes"])
    zero_one = read_dataset(_csv("x,survived", [f"{i},{i % 2}" for i in range(20)]))
    assert (zero_one.task, zero_one.classes) == ("classification", ["0", "1"])
    assert sorted(set(zero_one.target)) == [0.0, 1.0]
    ratings = read_dataset(_csv("x,stars", [f"{i},{i % 5 + 1}" for i in range(20)]))
    assert ratings.task == "regression" and ratings.classes is None


def test_task_regression_overrides_a_zero_one_target() -> None:
    data = _csv("x,survived", [f"{i},{i % 2}" for i in range(20)])
    dataset = read_dataset(data, task="regression")
    assert dataset.task == "regression" and not dataset.task_inferred


def test_task_classification_reads_numbers_as_classes_written_as_in_the_table() -> None:
    rows = [f"{i},{['1', '2.5', '10'][i % 3]}" for i in range(30)]
    dataset = read_dataset(_csv("x,grade", rows), task="classification")
    assert dataset.classes == ["1", "2.5", "10"]  # by value, as written


def test_cells_differing_only_in_case_are_one_class() -> None:
    labels = ["Yes", "yes", "yes", "no", " no "]
    dataset = read_dataset(_csv("x,ok", [f"{i},{labels[i % 5]}" for i in range(25)]))
    assert dataset.classes == ["no", "yes"]


def test_too_many_classes_and_rare_classes_get_a_sentence() -> None:
    with pytest.raises(DatasetError, match="holds text with 30 different values"):
        read_dataset(_csv("x,name", [f"{i},name{i}" for i in range(30)]))
    with pytest.raises(DatasetError, match="too many classes"):
        read_dataset(_csv("x,price", [f"{i},{i * 1.5}" for i in range(30)]), task="classification")
    rows = [f"{i},{'rare' if i < 2 else 'common'}" for i in range(30)]
    with pytest.raises(DatasetError, match='Class "rare" of column "kind" has only 2 rows'):
        read_dataset(_csv("x,kind", rows))


def test_rows_without_a_class_are_dropped() -> None:
    rows = [f"{i},{'' if i % 7 == 0 else ['a', 'b'][i % 2]}" for i in range(30)]
    dataset = read_dataset(_csv("x,kind", rows))
    assert dataset.n_rows == 30 - 5 and dataset.notes[0].kind == "target_dropped"


@pytest.mark.parametrize("classes", [2, 3])
def test_logistic_line_agrees_with_scikit_learn(classes: int) -> None:
    rng = np.random.default_rng(classes)
    x = rng.normal(size=(300, 4))
    codes = np.argmax(x[:, :classes] + rng.normal(size=(300, classes)), axis=1)
    weights = np.where(codes == 0, 2.0, 1.0)
    ours = fit_logistic(x, codes, classes, sample_weight=weights)
    oracle = LogisticRegression(C=1.0, tol=1e-10, max_iter=10_000)
    oracle.fit(x, codes, sample_weight=weights)
    np.testing.assert_allclose(ours.proba(x), oracle.predict_proba(x), atol=1e-4)


def test_metrics_agree_with_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 2, 200)
    proba = np.clip(0.3 * codes + rng.uniform(0, 0.7, 200), 0.01, 0.99)
    matrix = np.stack([1 - proba, proba], axis=1)
    ours = class_metrics(codes, matrix)
    guess = matrix.argmax(axis=1)
    assert ours["accuracy"] == pytest.approx(accuracy_score(codes, guess))
    assert ours["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(codes, guess))
    assert ours["log_loss"] == pytest.approx(log_loss(codes, matrix))
    assert ours["macro_f1"] == pytest.approx(f1_score(codes, guess, average="macro"))
    assert ours["roc_auc"] == pytest.approx(roc_auc_score(codes, proba))


def test_a_multiclass_table_trains_a_classifier_never_worse_than_the_logistic_line() -> None:
    rng = np.random.default_rng(1)
    rows = []
    for _ in range(150):
        a, b = rng.normal(size=2)
        label = ["setosa", "versicolor", "virginica"][int(a > 0.5) + int(a + b > 1.0)]
        rows.append(f"{a:.3f},{b:.3f},{label}")
    dataset = read_dataset(_csv("a,b,species", rows))
    result = train(dataset, TrainParams(epochs=6))
    assert result.task == "classification"
    assert result.classes == ["setosa", "versicolor", "virginica"]
    held_out = result.metrics["validation"]
    line = result.baseline_metrics["validation"]
    assert held_out is not None and line is not None
    assert held_out["log_loss"] <= line["log_loss"] + 1e-12
    assert held_out["roc_auc"] is None and held_out["accuracy"] > 0.7
    proba = result.predict_proba(dataset.features)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert set(result.importance or {}) == {"a", "b"}


def test_the_tutorial_preset_refuses_classes_in_a_sentence() -> None:
    with pytest.raises(DatasetError, match="tutorial preset predicts numbers only"):
        train(read_dataset(_yes_no()), TrainParams(preset="tutorial", epochs=2))


def test_a_surer_network_is_chosen_only_when_it_is_right_as_often() -> None:
    codes = np.zeros(100, np.int64)
    line = np.tile([0.6, 0.4], (100, 1))  # right on every row, unsure
    surer = np.tile([0.99, 0.01], (100, 1))
    surer[:3] = [0.45, 0.55]  # far lower log-loss, but wrong on three rows
    assert not network_wins(codes, surer, line, margin=0.01)
    surer[:3] = [0.55, 0.45]
    assert network_wins(codes, surer, line, margin=0.01)


def test_the_upload_check_refuses_the_tutorial_preset_for_classes_at_once() -> None:
    with pytest.raises(DatasetError, match="tutorial preset predicts numbers only"):
        check_training_table(
            _yes_no(), x=None, y=None, sheet=None, limits=Limits(), preset="tutorial"
        )
    checked = check_training_table(_yes_no(), x=None, y=None, sheet=None, limits=Limits())
    assert checked.classes == ["no", "yes"]


def test_a_classifier_reports_progress_and_stops_when_asked() -> None:
    seen: list[Progress] = []

    def stop(progress: Progress) -> bool:
        seen.append(progress)
        return False

    with pytest.raises(Cancelled):
        train(read_dataset(_yes_no()), TrainParams(epochs=4), on_progress=stop)
    assert seen and seen[0].total_passes >= 4


def test_a_table_of_words_alone_can_predict_a_class() -> None:
    rows = [f"{['red', 'brown'][i % 2]},{['almond', 'foul', 'none'][i % 3]},"
            f"{'poisonous' if i % 3 == 1 else 'edible'}" for i in range(30)]  # fmt: skip
    dataset = read_dataset(_csv("cap,smell,class", rows))
    assert dataset.classes == ["edible", "poisonous"] and dataset.features.shape[0] == 30


def test_a_rare_class_weighs_more_and_the_reply_says_so() -> None:
    from trainer.learn.classifier import class_weights
    from trainer.words.classes import imbalance

    codes = np.array([0] * 970 + [1] * 30)
    weights = class_weights(codes, 2)
    assert weights[1] > 3 * weights[0] and np.mean(weights[codes]) == pytest.approx(1.0)
    even = np.array([0] * 55 + [1] * 45)
    assert list(class_weights(even, 2)) == [1.0, 1.0]
    facts = {"weighted": True, "rarest": "fraud", "rarest_share": 0.03}
    assert imbalance(facts) == (
        'Class "fraud" is only 3 % of the rows: rare classes weighed more in training, and the '
        "probabilities were corrected back to how often each class occurs."
    )
    assert imbalance({"weighted": False}) is None


def test_a_prediction_reads_as_the_class_and_its_probability() -> None:
    from trainer.words.classes import prediction

    assert prediction("survived", {"no": 0.83, "yes": 0.17}) == "survived: no (83 %)"
    three = {"setosa": 0.05, "virginica": 0.7, "versicolor": 0.25}
    assert (
        prediction("species", three)
        == "species: virginica (70 %); then versicolor 25 %, setosa 5 %"
    )
