"""The trainer worker against a real database.

One test trains for real, end to end; the bookkeeping (leases, progress, cancel, timeouts,
batches, what gets stored) runs with stand-in tasks and predictors, with no Keras at all.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.exc import DataError, OperationalError

import trainer.report.processes as plot_pool_module
import trainer.worker.leases as leases_module
from bot import texts
from storage.models import JobKind, JobStatus
from storage.records import ChatRef, UserRef
from storage.store import Store
from storage.views import CancelOutcome
from tests.stand_ins import stand_in_training
from tests.waiting import wait_until
from trainbot.settings import Settings
from trainer.model_file.predictor import Prediction
from trainer.params import TrainParams
from trainer.tables.columns import ColumnPlan
from trainer.worker.loop import PREDICT_BATCH, Worker
from trainer.worker.predictors import PredictorCache

CHAT = 5150


def settings(**env: str) -> Settings:
    base = {"TRAINBOT_PROGRESS_INTERVAL": "0.1", "TRAINBOT_LEASE_SECONDS": "2"}
    return Settings.from_env({**base, **env}, env_file=None)


def queue_training(store: Store, content: bytes = b"x,y\n1,2\n", **params: object) -> int:
    store.records.remember(ChatRef(CHAT), UserRef(1))
    dataset = store.records.save_dataset(
        CHAT, user_id=1, filename="data.csv", content=content, n_rows=0, columns=[]
    )
    job = store.queue.enqueue(
        JobKind.TRAIN,
        chat_id=CHAT,
        user_id=1,
        params=TrainParams(**params).to_dict(),
        dataset_id=dataset.id,
    )
    return job.id


# -- stand-ins -------------------------------------------------------------------------------


class StandInPredictor:
    """Answers x → 2x; `before_each` runs first, with the job's inputs, to stage a race."""

    def __init__(self, before_each: Callable[[Any], None] = lambda values: None) -> None:
        self.before_each = before_each
        self.feature_names = self.input_names = ["x"]
        self.target_name = "y"
        self.plan = ColumnPlan.numeric(["x"], "y", [(0.0, 1.0)])

    def predict(self, values: Any) -> list[Prediction]:
        self.before_each(values)
        return [Prediction((float(v[0]),), 2.0 * float(v[0])) for v in values]


def a_model_for_predictions(store: Store, worker: Worker, predictor: StandInPredictor) -> int:
    """Train (a stand-in) through the worker, and put `predictor` in its cache for the model."""
    worker.train_task = stand_in_training(1)
    queue_training(store)
    assert worker.run_once()
    model = store.records.active_model(CHAT)
    assert model is not None
    worker.predictors.put(model.id, predictor)  # type: ignore[arg-type]
    return model.id


def queue_prediction(store: Store, model_id: int | None, value: float) -> int:
    return store.queue.enqueue(
        JobKind.PREDICT, chat_id=CHAT, user_id=1, params={"values": [[value]]}, model_id=model_id
    ).id


# -- end to end, with real training ----------------------------------------------------------


@pytest.mark.slow
def test_training_then_prediction_leave_a_model_a_plot_and_replies(
    store: Store, reference_csv: bytes
) -> None:
    job_id = queue_training(store, reference_csv, epochs=60, predict=(200.0,))
    worker = Worker(store, settings(), name="w-test")
    assert worker.run_once()

    job = store.records.get_job(CHAT, job_id)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.progress_total and job.progress_epoch
    model = store.records.active_model(CHAT)
    assert model is not None and model.version == 1 and model.feature_names == ["x"]
    plot, summary = store.outbox.pending()
    assert (plot.kind, summary.kind) == ("train_plot", "train_summary")
    assert "missing" not in summary.payload
    png = store.outbox.artifact(plot.artifact_id).content
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and 5_000 < len(png) < 1_000_000
    [prediction] = summary.payload["predictions"]
    assert prediction["inputs"] == [200.0]
    assert abs(prediction["value"] - 93.33) < 5.0
    assert summary.payload["metrics"]["train"]["r2"] > 0.9

    predict = store.queue.enqueue(
        JobKind.PREDICT,
        chat_id=CHAT,
        user_id=1,
        params={"values": [[200.0], [5000.0]]},
        model_id=model.id,
    )
    assert worker.run_once()
    assert store.records.get_job(CHAT, predict.id).status == JobStatus.SUCCEEDED
    answer = store.outbox.pending()[-1]
    assert answer.kind == "predictions"
    near, far = answer.payload["predictions"]
    assert abs(near["value"] - prediction["value"]) < 1e-3
    assert near["warnings"] == [] and far["warnings"][0]["kind"] == "far_outside"


def test_a_bad_file_fails_at_once_with_the_reason_and_is_not_retried(store: Store) -> None:
    job_id = queue_training(store, b"x,y\n1,hello\n2,3\n")
    Worker(store, settings(), name="w").run_once()
    job = store.records.get_job(CHAT, job_id)
    assert job.status == JobStatus.FAILED and job.attempts == 1
    [message] = store.outbox.pending()
    assert message.kind == "job_failed" and message.payload["error"] == job.error
    assert "Traceback" not in job.error


def test_a_prediction_for_a_deleted_model_says_so(store: Store) -> None:
    store.records.remember(ChatRef(CHAT))
    job_id = queue_prediction(store, None, 1.0)
    Worker(store, settings(), name="w").run_once()
    failed = store.records.get_job(CHAT, job_id)
    assert failed.status == JobStatus.FAILED and "/train" in failed.error


# -- results are never lost to a step after the fit (real, tiny trainings) ------------------


def tiny_csv(target: str) -> bytes:
    header = f"x,{target}\n".encode()
    return header + b"".join(f"{i},{3 * i + 1}\n".encode() for i in range(30))


def train_once(store: Store, content: bytes) -> tuple[Any, Any, list[Any]]:
    """One tiny real training through the worker: the job, the chat's model, its replies."""
    job_id = queue_training(store, content, epochs=3, predict=(5.0,))
    Worker(store, settings(), name="w").run_once()
    job = store.records.get_job(CHAT, job_id)
    return job, store.records.active_model(CHAT), store.outbox.pending()


def plot_or_a_clear_note(store: Store, replies: list[Any]) -> str:
    """'plot' if the chat gets a PNG, 'note' if the summary says the plot is missing."""
    summary = next(m for m in replies if m.kind == "train_summary")
    plots = [m for m in replies if m.kind == "train_plot"]
    if plots:
        png = store.outbox.artifact(plots[0].artifact_id).content
        assert png.startswith(b"\x89PNG")
        return "plot"
    assert "plot" in summary.payload["missing"]
    assert "couldn't make the plot" in texts.train_summary(summary.payload)
    return "note"


def test_a_target_named_like_maths_trains_and_gets_its_plot(store: Store) -> None:
    job, model, replies = train_once(store, tiny_csv("$y^$"))
    assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 1), job.error
    assert model is not None and model.target_name == "$y^$"
    assert plot_or_a_clear_note(store, replies) == "plot"


def test_a_300_character_target_name_trains_and_its_model_is_stored(store: Store) -> None:
    name = "a long target name " * 16  # 304 characters
    job, model, replies = train_once(store, tiny_csv(name.strip()))
    assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 1), job.error
    assert model is not None and model.job_id == job.id
    # The parser may shorten a long name; whatever it kept is what the model and reply carry.
    summary = next(m for m in replies if m.kind == "train_summary")
    assert summary.payload["target_name"] == model.target_name
    assert model.target_name.startswith("a long target name")
    plot_or_a_clear_note(store, replies)


def test_a_plot_that_fails_costs_the_plot_not_the_model(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_plot(*_args: Any, **_kwargs: Any) -> bytes:
        raise ValueError("mathtext could not parse this")

    monkeypatch.setattr(plot_pool_module, "draw_report_png", broken_plot)
    job, model, replies = train_once(store, tiny_csv("y"))
    assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 1), job.error
    assert model is not None and model.job_id == job.id
    assert [m.kind for m in replies] == ["train_summary"]
    assert replies[0].payload["missing"] == ["plot"]
    assert replies[0].payload["predictions"]  # the rest of the reply is all there
    assert plot_or_a_clear_note(store, replies) == "note"


# -- bookkeeping, with stand-ins -------------------------------------------------------------


def test_waiting_predictions_are_answered_in_one_batch_ahead_of_training(store: Store) -> None:
    worker = Worker(store, settings(), name="w")
    model_id = a_model_for_predictions(store, worker, StandInPredictor())
    training = queue_training(store)
    # One of them names no model: it fails alone, the others in its batch are answered.
    asks = [
        queue_prediction(store, None if i == 1 else model_id, float(i))
        for i in range(PREDICT_BATCH + 2)
    ]

    assert worker.run_once()
    status = {job_id: store.records.get_job(CHAT, job_id).status for job_id in [*asks, training]}
    batch, rest = asks[:PREDICT_BATCH], asks[PREDICT_BATCH:]
    assert [status[job_id] for job_id in batch] == [
        JobStatus.FAILED if n == 1 else JobStatus.SUCCEEDED for n in range(PREDICT_BATCH)
    ]
    assert [status[job_id] for job_id in [*rest, training]] == [JobStatus.QUEUED] * 3
    answered = [
        m.job_id for m in store.outbox.pending(limit=1000, per_chat=1000) if m.kind == "predictions"
    ]
    assert answered == [job_id for job_id in batch if status[job_id] == JobStatus.SUCCEEDED]


def lease_of(store: Store, job_id: int) -> Any:
    return store.records.get_job(CHAT, job_id).lease_expires_at


def test_the_waiting_members_of_a_batch_keep_their_leases_while_they_wait(
    store: Store,
) -> None:
    worker = Worker(store, settings(TRAINBOT_LEASE_SECONDS="1"), name="w")
    seen: list[bool] = []
    predictor = StandInPredictor()
    model_id = a_model_for_predictions(store, worker, predictor)
    first, *waiting = [queue_prediction(store, model_id, float(i)) for i in range(3)]

    def hold_the_first_until_the_others_are_renewed(values: Any) -> None:
        if values != [[0.0]]:
            return
        claimed = {job_id: lease_of(store, job_id) for job_id in waiting}
        # Without renewal their leases stay as claimed, and this waits out its time.
        wait_until(lambda: all(lease_of(store, j) > claimed[j] for j in waiting), timeout=20)
        seen.append(True)

    predictor.before_each = hold_the_first_until_the_others_are_renewed
    assert worker.run_once()
    assert seen == [True]
    for job_id in [first, *waiting]:
        job = store.records.get_job(CHAT, job_id)
        assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 1), job.error


def test_a_waiting_prediction_cancelled_before_its_turn_does_not_answer(store: Store) -> None:
    worker = Worker(store, settings(), name="w")
    predictor = StandInPredictor()
    model_id = a_model_for_predictions(store, worker, predictor)
    first, second = queue_prediction(store, model_id, 1.0), queue_prediction(store, model_id, 2.0)

    def cancel_the_second(values: Any) -> None:
        if values == [[1.0]]:
            store.queue.cancel(CHAT, second)

    predictor.before_each = cancel_the_second
    assert worker.run_once()
    assert store.records.get_job(CHAT, first).status == JobStatus.SUCCEEDED
    assert store.records.get_job(CHAT, second).status == JobStatus.CANCELLED
    replies = [(m.job_id, m.kind) for m in store.outbox.pending() if m.job_id in (first, second)]
    assert replies == [(first, "predictions"), (second, "job_cancelled")]


def failing_once(method: Callable[..., Any]) -> Callable[..., Any]:
    """`method`, whose first call fails as a dropped database connection does."""
    calls: list[int] = []

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("UPDATE jobs ...", {}, ConnectionError("connection lost"))
        return method(*args, **kwargs)

    return wrapper


def test_one_failed_progress_write_does_not_stop_the_training(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = queue_training(store)
    monkeypatch.setattr(store.queue, "record_progress", failing_once(store.queue.record_progress))
    Worker(store, settings(), name="w", train_task=stand_in_training(3)).run_once()
    job = store.records.get_job(CHAT, job_id)
    assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 1), job.error
    assert job.progress_epoch == 3  # the reports after the lost one got through
    assert store.records.active_model(CHAT) is not None


def run_in_background(worker: Worker) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    return thread, stop


def endless(store: Store) -> Worker:
    return Worker(store, settings(), name="w", train_task=stand_in_training(None, pause=0.02))


def test_cancel_stops_a_running_training(store: Store) -> None:
    job_id = queue_training(store)
    thread, stop = run_in_background(endless(store))
    wait_until(lambda: (store.records.get_job(CHAT, job_id).progress_epoch or 0) > 0)
    store.queue.cancel(CHAT, job_id)
    wait_until(lambda: store.records.get_job(CHAT, job_id).status == JobStatus.CANCELLED)
    stop.set()
    thread.join(30)
    assert store.records.active_model(CHAT) is None
    assert [m.kind for m in store.outbox.pending()] == ["job_cancelled"]


def test_shutdown_hands_a_running_training_back_to_the_queue(store: Store) -> None:
    job_id = queue_training(store)
    thread, stop = run_in_background(endless(store))
    wait_until(lambda: (store.records.get_job(CHAT, job_id).progress_epoch or 0) > 0)
    stop.set()
    thread.join(30)
    assert not thread.is_alive()
    job = store.records.get_job(CHAT, job_id)
    assert job.status == JobStatus.QUEUED and job.attempts == 0 and job.lease_owner is None


def test_a_job_over_its_time_limit_is_stopped_and_reported(store: Store) -> None:
    store.queue.timeout_seconds = 1.0
    job_id = queue_training(store)
    endless(store).run_once()
    job = store.records.get_job(CHAT, job_id)
    assert job.status == JobStatus.FAILED and "time limit" in job.error


def test_a_busy_worker_keeps_beating_in_the_registry(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`trainbot health worker` reads these beats; a long training must not look like death."""
    monkeypatch.setattr(leases_module, "REGISTRY_BEAT_SECONDS", 0.1)
    job_id = queue_training(store)
    thread, stop = run_in_background(endless(store))
    try:
        wait_until(lambda: (store.records.get_job(CHAT, job_id).progress_epoch or 0) > 0)
        [registered] = store.workers.alive(within_seconds=60)

        def beaten_since() -> bool:
            [now] = store.workers.alive(within_seconds=60)
            return now.heartbeat_at > registered.heartbeat_at and now.current_job_id == job_id

        wait_until(beaten_since)
    finally:
        stop.set()
        thread.join(30)


def test_when_the_database_refuses_the_results_the_model_is_stored_alone(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = queue_training(store)

    def refuse_once(method: Callable[..., Any]) -> Callable[..., Any]:
        calls: list[int] = []

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls.append(1)
            if len(calls) == 1:
                raise DataError("INSERT INTO outbox ...", {}, ValueError("value too long"))
            return method(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(store.queue, "complete", refuse_once(store.queue.complete))
    Worker(store, settings(), name="w", train_task=stand_in_training(1)).run_once()
    job = store.records.get_job(CHAT, job_id)
    assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 1), job.error
    assert store.records.active_model(CHAT) is not None
    [summary] = store.outbox.pending()
    assert summary.kind == "train_summary"
    assert {"plot", "details"} <= set(summary.payload["missing"])


@pytest.mark.parametrize("size", [0, 2])
def test_the_model_cache_keeps_recent_predictors(size: int) -> None:
    cache = PredictorCache(size)
    for model_id in (1, 2, 3):
        cache.put(model_id, object())  # type: ignore[arg-type]
    assert cache.get(1) is None
    assert (cache.get(3) is not None) == (size > 0)


# -- many jobs at once -----------------------------------------------------------------------


def test_a_jobs_time_limit_counts_its_own_training_not_its_wait_behind_batchmates(
    store: Store,
) -> None:
    """Three jobs of 1.2 s each in one batch, trained one after another, under a 3 s limit:
    the last finishes 3.6 s after its claim, and in time."""
    store.queue.timeout_seconds = 3.0
    jobs = [queue_training(store, seed=seed) for seed in (1, 2, 3)]
    task = stand_in_training(12, pause=0.1)
    worker = Worker(store, settings(), name="w-batch", train_batch=3, train_task=task)
    assert worker.run_once()
    for job_id in jobs:
        job = store.records.get_job(CHAT, job_id)
        assert job.status == JobStatus.SUCCEEDED and job.attempts == 1, job.error


def test_the_jobs_of_a_batch_whose_worker_died_are_next_trained_one_at_a_time(
    store: Store, database_url: str
) -> None:
    """A worker dies holding three jobs (any of them may have killed it): each is claimed
    again alone, so a job that kills its worker cannot take its batchmates down again."""
    jobs = [queue_training(store, seed=seed) for seed in (1, 2, 3)]
    dying = Store.open(database_url, lease_seconds=0.2)
    assert len(dying.queue.claim_batch("dead", (JobKind.TRAIN,), limit=8)) == 3
    dying.close()
    wait_until(lambda: sorted(store.queue.reclaim_expired()) == jobs, timeout=30)
    held_while_training: list[int] = []
    stand_in = stand_in_training(2)

    def task(*args: Any) -> Any:
        held = [j for j in store.records.list_jobs(CHAT, limit=10) if j.lease_owner == "w"]
        held_while_training.append(len(held))
        return stand_in(*args)

    worker = Worker(store, settings(), name="w", train_batch=8, train_task=task)
    while worker.run_once():
        pass
    assert held_while_training == [1, 1, 1]
    for job_id in jobs:
        job = store.records.get_job(CHAT, job_id)
        assert job.status == JobStatus.SUCCEEDED and job.attempts == 2, job.error
    # New jobs are batched as before.
    fresh = [queue_training(store, seed=seed) for seed in (4, 5)]
    held_while_training.clear()
    assert worker.run_once() and not worker.run_once()
    assert held_while_training == [2, 2]
    assert all(store.records.get_job(CHAT, j).status == JobStatus.SUCCEEDED for j in fresh)


def _square_csv(seed: int, rows: int = 120) -> bytes:
    from trainer import examples

    return examples.curve_csv("square", rows, seed=seed)


def test_waiting_trainings_are_claimed_and_trained_together_each_ending_alone(
    store: Store,
) -> None:
    """Three chats' tables and one bad file in one claim: three models, one clear failure."""
    good = [queue_training(store, _square_csv(seed), seed=seed, epochs=8) for seed in (1, 2, 3)]
    bad = queue_training(store, b"x,y\n1,hello\n2,3\n")
    worker = Worker(store, settings(), name="w-batch", train_batch=8)
    assert worker.run_once()
    for job_id in good:
        job = store.records.get_job(CHAT, job_id)
        assert job.status == JobStatus.SUCCEEDED and job.attempts == 1, job.error
        assert job.progress_epoch == job.progress_total == 8
    failed = store.records.get_job(CHAT, bad)
    assert failed.status == JobStatus.FAILED and "only 2 rows" in failed.error
    versions = [m.version for m in store.records.list_models(CHAT)]
    assert sorted(versions) == [1, 2, 3]
    assert not worker.run_once()  # nothing was left behind


def test_a_training_cancelled_inside_a_batch_leaves_the_others_to_finish(store: Store) -> None:
    first, second = (
        queue_training(store, _square_csv(seed), seed=seed, epochs=3000) for seed in (1, 2)
    )
    worker = Worker(store, settings(), name="w-batch", train_batch=8)
    runner = threading.Thread(target=worker.run_once)
    runner.start()
    wait_until(lambda: store.records.get_job(CHAT, first).progress_epoch, timeout=120)
    assert store.queue.cancel(CHAT, first) == CancelOutcome.REQUESTED
    # The other one has thousands of epochs to go: stop it as a shutdown would.
    wait_until(
        lambda: store.records.get_job(CHAT, first).status == JobStatus.CANCELLED, timeout=120
    )
    assert store.records.get_job(CHAT, second).status == JobStatus.RUNNING
    worker._stop.set()
    runner.join(timeout=120)
    assert store.records.get_job(CHAT, second).status == JobStatus.QUEUED  # handed back


def test_a_prediction_is_answered_while_a_long_training_runs(store: Store) -> None:
    predictor = StandInPredictor()
    worker = Worker(store, settings(), name="w-lanes")
    model_id = a_model_for_predictions(store, worker, predictor)
    worker.train_task = stand_in_training(None, pause=0.01)  # trains until stopped
    training = queue_training(store)
    stop = threading.Event()
    runner = threading.Thread(target=worker.run, args=(stop,))
    runner.start()
    try:
        wait_until(lambda: store.records.get_job(CHAT, training).progress_epoch, timeout=30)
        prediction = queue_prediction(store, model_id, 21.0)
        wait_until(
            lambda: store.records.get_job(CHAT, prediction).status == JobStatus.SUCCEEDED,
            timeout=30,
        )
        assert store.records.get_job(CHAT, training).status == JobStatus.RUNNING
        assert store.outbox.pending()[-1].payload["predictions"][0]["value"] == 42.0
    finally:
        stop.set()
        runner.join(timeout=30)
    assert store.records.get_job(CHAT, training).status == JobStatus.QUEUED


def test_a_worker_of_one_kind_leaves_the_other_kind_alone(store: Store) -> None:
    predictor = StandInPredictor()
    worker = Worker(store, settings(), name="w-train")
    model_id = a_model_for_predictions(store, worker, predictor)
    prediction = queue_prediction(store, model_id, 1.0)
    only_training = Worker(store, settings(), name="w-only-train", kinds=(JobKind.TRAIN,))
    assert not only_training.run_once()
    only_predictions = Worker(store, settings(), name="w-only-predict", kinds=(JobKind.PREDICT,))
    only_predictions.predictors.put(model_id, predictor)  # type: ignore[arg-type]
    queue_training(store)
    assert only_predictions.run_once()
    assert store.records.get_job(CHAT, prediction).status == JobStatus.SUCCEEDED
    assert not only_predictions.run_once()  # the training waits for a training worker
