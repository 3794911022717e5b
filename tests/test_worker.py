"""The trainer worker against a real database, with real (short) Keras training."""

from __future__ import annotations

import threading
import time

import pytest

from storage.models import JobKind, JobStatus
from storage.records import ChatRef, UserRef
from storage.store import Store
from trainbot.settings import Settings
from trainer.params import TrainParams
from trainer.worker import PREDICT_BATCH, Worker

CHAT = 5150


def settings(**env: str) -> Settings:
    base = {"TRAINBOT_PROGRESS_INTERVAL": "0.1", "TRAINBOT_LEASE_SECONDS": "2"}
    return Settings.from_env({**base, **env}, env_file=None)


def queue_training(store: Store, content: bytes, **params: object) -> int:
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


def wait_until(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


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
    assert near["warning"] is None and far["warning"]


def test_a_bad_file_fails_at_once_with_the_reason_and_is_not_retried(store: Store) -> None:
    job_id = queue_training(store, b"x,y\n1,hello\n2,3\n")
    Worker(store, settings(), name="w").run_once()
    job = store.records.get_job(CHAT, job_id)
    assert job.status == JobStatus.FAILED and job.attempts == 1
    [message] = store.outbox.pending()
    assert message.kind == "job_failed" and message.payload["error"] == job.error
    assert "Traceback" not in job.error


def test_a_prediction_for_a_deleted_model_says_so(store: Store, reference_csv: bytes) -> None:
    store.records.remember(ChatRef(CHAT))
    job = store.queue.enqueue(
        JobKind.PREDICT, chat_id=CHAT, user_id=None, params={"values": [[1.0]]}, model_id=None
    )
    Worker(store, settings(), name="w").run_once()
    failed = store.records.get_job(CHAT, job.id)
    assert failed.status == JobStatus.FAILED and "/train" in failed.error


def test_waiting_predictions_are_answered_in_one_batch_ahead_of_training(store: Store) -> None:
    line = b"x,y\n" + b"".join(f"{i},{3 * i}\n".encode() for i in range(30))
    worker = Worker(store, settings(), name="w")
    queue_training(store, line, epochs=3)
    assert worker.run_once()
    model = store.records.active_model(CHAT)
    assert model is not None
    training = queue_training(store, line, epochs=3)
    # One of them names no model: it fails alone, the others in its batch are answered.
    asks = [
        store.queue.enqueue(
            JobKind.PREDICT,
            chat_id=CHAT,
            user_id=1,
            params={"values": [[float(i)]]},
            model_id=None if i == 1 else model.id,
        ).id
        for i in range(PREDICT_BATCH + 2)
    ]

    assert worker.run_once()
    status = {job_id: store.records.get_job(CHAT, job_id).status for job_id in [*asks, training]}
    batch, rest = asks[:PREDICT_BATCH], asks[PREDICT_BATCH:]
    assert [status[job_id] for job_id in batch] == [
        JobStatus.FAILED if n == 1 else JobStatus.SUCCEEDED for n in range(PREDICT_BATCH)
    ]
    assert [status[job_id] for job_id in [*rest, training]] == [JobStatus.QUEUED] * 3
    answered = [m.job_id for m in store.outbox.pending() if m.kind == "predictions"]
    assert answered == [job_id for job_id in batch if status[job_id] == JobStatus.SUCCEEDED]


def run_in_background(worker: Worker) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    return thread, stop


def test_cancel_stops_a_running_training(store: Store, reference_csv: bytes) -> None:
    job_id = queue_training(store, reference_csv, epochs=5000, preset="tutorial")
    thread, stop = run_in_background(Worker(store, settings(), name="w"))
    wait_until(lambda: (store.records.get_job(CHAT, job_id).progress_epoch or 0) > 0)
    store.queue.cancel(CHAT, job_id)
    wait_until(lambda: store.records.get_job(CHAT, job_id).status == JobStatus.CANCELLED)
    stop.set()
    thread.join(30)
    job = store.records.get_job(CHAT, job_id)
    assert job.progress_epoch < 5000
    assert store.records.active_model(CHAT) is None


def test_shutdown_hands_a_running_training_back_to_the_queue(
    store: Store, reference_csv: bytes
) -> None:
    job_id = queue_training(store, reference_csv, epochs=5000, preset="tutorial")
    thread, stop = run_in_background(Worker(store, settings(), name="w"))
    wait_until(lambda: (store.records.get_job(CHAT, job_id).progress_epoch or 0) > 0)
    stop.set()
    thread.join(30)
    assert not thread.is_alive()
    job = store.records.get_job(CHAT, job_id)
    assert job.status == JobStatus.QUEUED and job.attempts == 0 and job.lease_owner is None


def test_a_job_over_its_time_limit_is_stopped_and_reported(
    store: Store, reference_csv: bytes
) -> None:
    store.queue.timeout_seconds = 1.0
    job_id = queue_training(store, reference_csv, epochs=5000, preset="tutorial")
    Worker(store, settings(), name="w").run_once()
    job = store.records.get_job(CHAT, job_id)
    assert job.status == JobStatus.FAILED and "time limit" in job.error


@pytest.mark.parametrize("size", [0, 2])
def test_the_model_cache_keeps_recent_predictors(size: int) -> None:
    from trainer.worker import ModelCache

    cache = ModelCache(size)
    for model_id in (1, 2, 3):
        cache.put(model_id, object())  # type: ignore[arg-type]
    assert cache.get(1) is None
    assert (cache.get(3) is not None) == (size > 0)
