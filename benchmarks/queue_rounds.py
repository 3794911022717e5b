"""One device's side of benchmarks/bench_gpu_queue.py: rounds of queued training jobs drained by
the project's real worker (trainer.worker.loop.Worker.run) from a real SQLite file.

It runs in a process of its own, started with JAX_PLATFORMS set (a process's JAX device is
fixed at its first use), and returns plain dicts that the parent turns into Markdown.
"""

from __future__ import annotations

import contextlib
import logging
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.queue_tables import REFERENCE_NAME, QueueTable

TRUTH_AT_200 = 93.33
ROUND_TIMEOUT = 1800.0
# A batched job's quality counts as the one trained alone when it lies within the seeds' spread,
# or when the two agree to this relative tolerance (tables where every seed ends the same).
SAME = 1e-6


@dataclass(frozen=True)
class Options:
    """What the parent asked this device to measure."""

    sizes: tuple[int, ...]
    sweep: tuple[int, ...]
    sweep_jobs: int
    train_batch: int  # 0: the worker's own default for the device (TRAINBOT_TRAIN_BATCH unset)
    epochs: int | None
    seeds: int
    warmup: bool
    budget: float  # seconds this device may take; rounds that would not fit are skipped
    scoring: str = "device"  # the rounds' scoring: "device" (proposed) or "host" (as shipped)
    ab_jobs: int = 0  # then a round of this many reference jobs with the other scoring
    program_cache: int = 0  # compiled networks kept (trainer.learn.programs); 0: as shipped


@dataclass(frozen=True)
class TableSet:
    name: str
    tables: list[QueueTable]


def measure(sets: list[TableSet], options: Options, save: Callable[[dict[str, Any]], None]
            ) -> dict[str, Any]:  # fmt: skip
    """Every round on this process's device; ``save`` gets the figures so far after each."""
    from trainer import backend
    from trainer.worker import loop

    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    backend.configure()
    device = backend.device_description()
    default_batch = loop.TRAIN_BATCH["cpu" if device == "cpu" else "gpu"]
    out: dict[str, Any] = {
        "device": device,
        "versions": _versions(),
        "default_batch": default_batch,
        "train_batch": options.train_batch or default_batch,
        "alone": {},
        "rounds": [],
        "sweep": [],
    }
    timers = _Timers.install()
    from trainer.learn.programs import PROGRAMS

    if options.program_cache:
        PROGRAMS.size = options.program_cache
    out["program_cache"] = PROGRAMS.size
    _use_scoring("host")  # alone as shipped: what a batched job is held to
    for table_set in sets:
        out["alone"].update(_alone(table_set.tables, options))
        save(out)
    _use_scoring(options.scoring)
    out["scoring"] = options.scoring
    for table_set in sets:
        rate = 0.0
        for n in options.sizes:
            left = options.budget - (time.perf_counter() - started)
            if rate and n / rate * 1.5 > left:
                out["rounds"].append({"jobs": n, "tables": table_set.name, "skipped": True})
                continue
            figures = _round(table_set, n, options.train_batch, options, timers, out["alone"])
            rate = figures["jobs_per_s"]
            out["rounds"].append(figures)
            save(out)
    reference = sets[0]
    if options.ab_jobs:
        other = "host" if options.scoring == "device" else "device"
        _use_scoring(other)
        figures = _round(reference, options.ab_jobs, options.train_batch, options, timers,
                         out["alone"])  # fmt: skip
        out["rounds"].append(figures)
        _use_scoring(options.scoring)
        save(out)
    rates = [r["jobs_per_s"] for r in out["rounds"] if r.get("tables") == reference.name
             and "jobs_per_s" in r]  # fmt: skip
    for batch in options.sweep:
        left = options.budget - (time.perf_counter() - started)
        if left < 0 or (rates and options.sweep_jobs / max(rates) * 1.5 > left):
            out["sweep"].append({"batch": batch, "jobs": options.sweep_jobs, "skipped": True})
            continue
        out["sweep"].append(
            _round(reference, options.sweep_jobs, batch, options, timers, out["alone"])
        )
        save(out)
    out["seconds"] = time.perf_counter() - started
    return out


def _use_scoring(kind: str) -> None:
    """Score the rounds on the device (trainer.learn.device_scoring) or on the host (as
    shipped): the class trainer.learn.members trains with, swapped for this process."""
    from trainer.learn import device_scoring, members, rounds

    use_device = kind == "device" and device_scoring.available()
    members.RoundMonitor = device_scoring.DeviceRoundMonitor if use_device else rounds.RoundMonitor


def _scoring_in_use() -> str:
    from trainer.learn import members, rounds

    return "host" if members.RoundMonitor is rounds.RoundMonitor else "device"


def _versions() -> dict[str, str]:
    import jax
    import keras

    return {"jax": jax.__version__, "keras": keras.__version__}


def _params(table: QueueTable, seed: int, epochs: int | None) -> Any:
    from trainer.params import TrainParams

    predict = (200.0,) if table.name == REFERENCE_NAME else ()
    return TrainParams(seed=seed, epochs=epochs, predict=predict)


def _quality(metrics: dict[str, Any] | None) -> float | None:
    """A job's out-of-fold MSE (target units²): rows each member never trained on."""
    validation = (metrics or {}).get("validation") or {}
    value = validation.get("mse")
    return None if value is None else float(value)


def _alone(tables: list[QueueTable], options: Options) -> dict[str, Any]:
    """Each table trained alone (no queue, no batch) with seeds 0..seeds-1: the reference
    every batched job of that table and seed is held to, and the seed-to-seed spread."""
    from trainer.learn.training import train
    from trainer.tables.dataset import read_dataset

    alone: dict[str, Any] = {}
    for table in tables:
        dataset = read_dataset(table.content)
        runs = []
        for seed in range(options.seeds):
            fit = train(dataset, _params(table, seed, options.epochs))
            at_200 = None
            if table.name == REFERENCE_NAME:
                at_200 = abs(float(fit.predict([[200.0]])[0]) - TRUTH_AT_200)
            runs.append({"mse": _quality(fit.metrics), "at_200": at_200})
        mses = [run["mse"] for run in runs if run["mse"] is not None]
        spread = max(mses) - min(mses) if mses else 0.0
        alone[table.name] = {"shape": table.shape, "runs": runs, "spread": spread}
    return alone


class _Timers:
    """Seconds the worker spent, summed: training ("train": reading aside, everything from the
    table to the fitted model), of which the stacked program's fit ("stacked"), of which the
    host's scoring after each round ("scoring"); then packaging each job (model file, plot,
    summary: "package"). On a GPU only the stacked fit less its scoring runs on the device."""

    def __init__(self) -> None:
        self.seconds = {"train": 0.0, "stacked": 0.0, "scoring": 0.0, "package": 0.0}

    @classmethod
    def install(cls) -> _Timers:
        from trainer.learn import batch, crossval, device_scoring, rounds
        from trainer.worker import tasks

        timers = cls()
        for module, name, timer in (
            (tasks, "train_batch", "train"),
            (tasks, "train", "train"),
            (tasks, "package_all", "package"),
            (batch, "fit_members", "stacked"),
            (crossval, "fit_members", "stacked"),
            (rounds.RoundMonitor, "on_epoch_end", "scoring"),
            (device_scoring.DeviceRoundMonitor, "on_epoch_end", "scoring"),
        ):
            setattr(module, name, timers._timed(timer, getattr(module, name)))
        return timers

    def _timed(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - started

        return timed

    def snapshot(self) -> dict[str, float]:
        return dict(self.seconds)


def _round(table_set: TableSet, n: int, batch: int, options: Options, timers: _Timers,
           alone: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """N jobs enqueued at once, then drained by a fresh worker; warmed first when asked."""
    from trainer.learn.programs import PROGRAMS

    with _store() as store:
        warm: dict[str, Any] = {}
        if options.warmup:
            # The programs of this round's batch sizes, compiled once as in a long-lived worker.
            built = PROGRAMS.built
            jobs = _enqueue(store, table_set.tables, min(n, batch or n), options, chat_base=1)
            warm = _drain(store, jobs, batch)
            warm["compiled"] = PROGRAMS.built - built
        jobs = _enqueue(store, table_set.tables, n, options, chat_base=1_000_000)
        built, before = PROGRAMS.built, timers.snapshot()
        drained = _drain(store, jobs, batch)
        after = timers.snapshot()
        compared = _compare(store, jobs, alone)
    return {
        "jobs": n,
        "tables": table_set.name,
        "batch": drained["batch"],
        "scoring": _scoring_in_use(),
        "warmup_s": warm.get("seconds"),
        "warmup_compiled": warm.get("compiled"),
        "compiled": PROGRAMS.built - built,
        "last_s": drained["seconds"],
        "jobs_per_s": n / drained["seconds"],
        "p50_s": drained["p50"],
        **{f"{name}_s": after[name] - before[name] for name in after},
        "memory": _device_memory(),
        **compared,
    }


@contextlib.contextmanager
def _store() -> Iterator[Any]:
    from storage.store import Store

    with tempfile.TemporaryDirectory() as folder:
        store = Store.open(f"sqlite:///{Path(folder) / 'queue.sqlite3'}")
        try:
            yield store
        finally:
            store.close()


def _enqueue(store: Any, tables: list[QueueTable], n: int, options: Options, *, chat_base: int
             ) -> list[tuple[int, int, QueueTable, int]]:  # fmt: skip
    """N training jobs, one per chat as N people sending /train: (chat, job, table, seed)."""
    from storage.models import JobKind
    from storage.records import ChatRef, UserRef

    jobs = []
    for i in range(n):
        chat, table, seed = chat_base + i, tables[i % len(tables)], i % options.seeds
        store.records.remember(ChatRef(chat), UserRef(chat))
        dataset = store.records.save_dataset(
            chat, user_id=chat, filename="table.csv", content=table.content, n_rows=0, columns=[]
        )
        job = store.queue.enqueue(
            JobKind.TRAIN, chat_id=chat, user_id=chat, dataset_id=dataset.id,
            params=_params(table, seed, options.epochs).to_dict(),
        )  # fmt: skip
        jobs.append((chat, job.id, table, seed))
    return jobs


def _drain(store: Any, jobs: list[tuple[int, int, QueueTable, int]], batch: int
           ) -> dict[str, Any]:  # fmt: skip
    """Run the real worker loop until every job has ended; when each ended, from the start."""
    from trainbot.settings import Settings
    from trainer.worker.loop import Worker

    # The host's own settings, as a worker there would read them (TRAINBOT_PLOT_PROCESSES...).
    settings = Settings.from_env({**os.environ, "TRAINBOT_LOG_LEVEL": "WARNING"}, env_file=None)
    worker = Worker(store, settings, train_batch=batch or None)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), name="bench-worker", daemon=True)
    wall, started = datetime.now(UTC), time.perf_counter()
    thread.start()
    try:
        while True:
            counts = store.queue.counts()
            if counts.queued == 0 and counts.running == 0:
                break
            if time.perf_counter() - started > ROUND_TIMEOUT:
                raise TimeoutError(f"{len(jobs)} jobs not done in {ROUND_TIMEOUT:.0f} s")
            time.sleep(0.02)
        seconds = time.perf_counter() - started
    finally:
        stop.set()
        thread.join()
    ended = []
    for chat, job_id, _, _ in jobs:
        info = store.records.get_job(chat, job_id)
        if info is not None and info.finished_at is not None:
            finished = info.finished_at
            if finished.tzinfo is None:
                finished = finished.replace(tzinfo=UTC)
            ended.append(max(0.0, (finished - wall).total_seconds()))
    return {
        "seconds": seconds,
        "p50": statistics.median(ended) if ended else None,
        "batch": worker.train_batch,
    }


def _compare(store: Any, jobs: list[tuple[int, int, QueueTable, int]], alone: dict[str, Any]
             ) -> dict[str, Any]:  # fmt: skip
    """Each job's out-of-fold MSE against the same table and seed trained alone."""
    succeeded = within = identical = 0
    failed: list[str] = []
    worst = 0.0  # |batched − alone| in units of the seeds' spread
    at_200: list[float] = []
    for chat, job_id, table, seed in jobs:
        info = store.records.get_job(chat, job_id)
        if info is None or info.status.value != "succeeded" or not info.result:
            failed.append(f"{table.name}: {getattr(info, 'error', None) or 'no result'}")
            continue
        succeeded += 1
        reference = alone[table.name]
        mse, solo = _quality(info.result.get("metrics")), reference["runs"][seed]["mse"]
        if mse is None or solo is None:
            continue
        gap, spread = abs(mse - solo), reference["spread"]
        identical += gap <= 1e-9 * max(abs(solo), 1e-12)
        within += gap <= spread + SAME * abs(solo)
        if spread > 0:
            worst = max(worst, gap / spread)
        elif gap > SAME * abs(solo):
            worst = float("inf")
        predictions = info.result.get("predictions") or []
        if predictions and predictions[0].get("value") is not None:
            at_200.append(abs(float(predictions[0]["value"]) - TRUTH_AT_200))
    return {
        "succeeded": succeeded,
        "failed": failed[:3],
        "failed_count": len(failed),
        "within_spread": within,
        "identical": identical,
        "worst_gap_in_spreads": worst,
        "worst_at_200": max(at_200) if at_200 else None,
    }


def _device_memory() -> dict[str, float] | None:
    """The device's memory as JAX counts it, in MiB (None where the device keeps no count)."""
    import jax

    stats = jax.local_devices()[0].memory_stats()
    if not stats:
        return None
    mib = 1024 * 1024
    return {
        key: stats[key] / mib
        for key in ("bytes_in_use", "peak_bytes_in_use", "bytes_limit")
        if key in stats
    }
