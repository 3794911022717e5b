"""The `trainbot` command: run, bot, worker, train, db upgrade and prune, status and health."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from trainbot import __version__, logs
from trainbot.settings import ConfigError, Settings

if TYPE_CHECKING:
    from storage.store import Store

    # What add_subparsers returns (argparse names no public type for it).
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]

log = logging.getLogger("trainbot")

WORKER_RESTART_DELAY_SECONDS = 2.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as error:
        print("trainbot: the configuration has problems:", file=sys.stderr)
        for problem in error.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    # Keras reads its backend once, at first import: settle it before anything imports keras.
    os.environ["KERAS_BACKEND"] = settings.keras_backend
    logs.configure(
        settings.log_level,
        settings.log_format,
        secrets=[s for s in (settings.telegram_bot_token, settings.webhook_secret) if s],
    )
    try:
        return int(args.handler(args, settings) or 0)
    except ConfigError as error:
        print(f"trainbot: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trainbot",
        description="A Telegram bot that trains Keras regression models from CSV and Excel files. "
        "Settings come from environment variables (see .env.example).",
    )
    parser.add_argument("--version", action="version", version=f"trainbot {__version__}")
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_services(subcommands)
    _add_local_commands(subcommands)
    _add_database_commands(subcommands)
    _add_health(subcommands)
    return parser


def _add_services(subcommands: Subcommands) -> None:
    """`run`, `bot` and `worker`: the long-running processes."""
    run = subcommands.add_parser("run", help="bot and one worker together (needs a token)")
    run.set_defaults(handler=_run)
    bot = subcommands.add_parser("bot", help="only the Telegram bot (needs a token)")
    bot.set_defaults(handler=_bot)
    worker = subcommands.add_parser(
        "worker", help="only a trainer worker; start as many as you like"
    )
    worker.add_argument("--name", help="worker name shown by `status` (default: host-pid)")
    worker.add_argument(
        "--kinds",
        choices=("all", "train", "predict"),
        default="all",
        help="jobs to take: all (predictions in a lane of their own beside training), or one "
        "kind, to split the roles across hosts",
    )
    worker.set_defaults(handler=_worker)


def _add_local_commands(subcommands: Subcommands) -> None:
    """`train` and `predict`: local files, no Telegram and no database."""
    from trainbot import local_commands

    train = subcommands.add_parser(
        "train", help="train on a local CSV or .xlsx, no Telegram needed"
    )
    local_commands.add_arguments(train)
    train.set_defaults(handler=_train)
    predict = subcommands.add_parser(
        "predict", help="predict from a saved .keras model and a CSV or .xlsx of inputs"
    )
    local_commands.add_predict_arguments(predict)
    predict.set_defaults(handler=_predict)


def _add_database_commands(subcommands: Subcommands) -> None:
    """`db upgrade`, `db prune` and `status`."""
    db = subcommands.add_parser("db", help="database schema and retention")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    upgrade = db_commands.add_parser("upgrade", help="apply the migrations (also done at start)")
    upgrade.set_defaults(handler=_db_upgrade)
    prune = db_commands.add_parser(
        "prune",
        help="delete old uploads, files, delivered messages, finished jobs and models, as the "
        "TRAINBOT_KEEP_*_DAYS settings say (the bot also does it every TRAINBOT_PRUNE_INTERVAL); "
        "never a chat's active or newest model, nor anything still needed",
    )
    prune.set_defaults(handler=_db_prune)

    status = subcommands.add_parser("status", help="queue depth, live workers, recent failures")
    status.add_argument("--json", action="store_true", help="one JSON object instead of text")
    status.set_defaults(handler=_status)


def _add_health(subcommands: Subcommands) -> None:
    health = subcommands.add_parser(
        "health", help="exit 0 if a process is serving, else 1 (container health checks)"
    )
    health.add_argument(
        "process",
        choices=sorted(_HEALTH_CHECKS),
        help="bot: its heartbeat file is fresh; worker: its heartbeat in the database is fresh",
    )
    health.add_argument(
        "--name",
        help="worker: which one (default: TRAINBOT_WORKER_NAME, else any worker on this host)",
    )
    health.set_defaults(handler=_health)


def _open_store(settings: Settings) -> Store:
    from storage.store import Store

    return Store.from_settings(settings)


def _train(args: argparse.Namespace, settings: Settings) -> int:
    from trainbot import local_commands

    return local_commands.run(args, settings.limits)


def _predict(args: argparse.Namespace, settings: Settings) -> int:
    from trainbot import local_commands

    return local_commands.run_predict(args, settings.limits)


def _db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    store = _open_store(settings)
    print(f"database at revision {store.db.current_revision()}")
    store.close()
    return 0


def _status(args: argparse.Namespace, settings: Settings) -> int:
    store = _open_store(settings)
    try:
        counts = store.queue.counts()
        workers = store.workers.alive(within_seconds=max(3 * settings.lease_seconds, 30.0))
        failures = store.queue.recent_failures(5)
    finally:
        store.close()
    if args.json:
        print(
            json.dumps(
                {
                    "queue": counts.__dict__,
                    "workers": [w.__dict__ for w in workers],
                    "recent_failures": [
                        {
                            "job_id": j.id,
                            "chat_id": j.chat_id,
                            "error": j.error,
                            "finished_at": j.finished_at,
                        }
                        for j in failures
                    ],
                },
                default=str,
            )
        )
        return 0
    print(
        f"queued {counts.queued}, running {counts.running}, succeeded {counts.succeeded}, "
        f"failed {counts.failed}, cancelled {counts.cancelled}"
    )
    print(f"workers alive: {len(workers)}")
    for w in workers:
        doing = f"job {w.current_job_id}" if w.current_job_id else "idle"
        print(f"  {w.name} on {w.hostname} (pid {w.pid}, {w.backend}, {w.device}): {doing}")
    print("recent failures:" if failures else "recent failures: none")
    for job in failures:
        when = f"{job.finished_at:%Y-%m-%d %H:%M}" if job.finished_at else "?"
        print(f"  job {job.id} (chat {job.chat_id}) at {when}: {job.error}")
    return 0


def _db_prune(args: argparse.Namespace, settings: Settings) -> int:
    from storage.retention import Retention, prune

    store = _open_store(settings)
    try:
        pruned = prune(store.db, Retention.from_settings(settings))
    finally:
        store.close()
    print(
        f"deleted {pruned.datasets} uploads, {pruned.artifacts} files, "
        f"{pruned.outbox} delivered messages, {pruned.jobs} finished jobs and "
        f"{pruned.models} old models"
    )
    return 0


def _health(args: argparse.Namespace, settings: Settings) -> int:
    return _HEALTH_CHECKS[args.process](args, settings)


def _bot_health(_args: argparse.Namespace, settings: Settings) -> int:
    """0 while the bot's heartbeat (written by its event loop while it serves) is fresh."""
    from bot import health

    problem = health.check(settings.heartbeat_file)
    if problem is not None:
        print(f"trainbot: {problem}", file=sys.stderr)
        return 1
    print("bot: serving")
    return 0


# One function per process kind: `trainbot health <kind>`.
def _worker_health(args: argparse.Namespace, settings: Settings) -> int:
    """0 while the worker's heartbeat in the registry is fresh: a worker beats every few
    seconds, idle or in the middle of a training, and only while its loop runs."""
    from storage.db import Database
    from storage.errors import DatabaseError
    from storage.workers import STALE_SECONDS, WorkerRegistry

    name = args.name or settings.worker_name
    host = socket.gethostname()
    # No migration here: a health check must not change the database it looks at.
    db = Database(settings.database_url)
    try:
        alive = WorkerRegistry(db).alive(within_seconds=STALE_SECONDS)
    except DatabaseError as error:
        print(f"trainbot: cannot read the worker registry: {error.orig}", file=sys.stderr)
        return 1
    finally:
        db.dispose()
    mine = [w for w in alive if (w.name == name if name else w.hostname == host)]
    if not mine:
        who = f"worker {name}" if name else f"any worker on {host}"
        print(f"trainbot: no heartbeat from {who} in {STALE_SECONDS:g} s", file=sys.stderr)
        return 1
    print(f"worker: serving ({', '.join(w.name for w in mine)})")
    return 0


_HEALTH_CHECKS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
    "bot": _bot_health,
    "worker": _worker_health,
}


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from storage.models import JobKind
    from trainer.worker.loop import ALL_KINDS, Worker

    store = _open_store(settings)
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        log.info("signal %s: finishing or handing back the current job, then stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        kinds = {"all": ALL_KINDS, "train": (JobKind.TRAIN,), "predict": (JobKind.PREDICT,)}
        worker = Worker(
            store, settings, name=args.name or settings.worker_name, kinds=kinds[args.kinds]
        )
        worker.run(stop)
    finally:
        store.close()
    return 0


def _bot(args: argparse.Namespace, settings: Settings) -> int:
    from bot import app

    settings.require_token()
    app.run(settings)
    return 0


def _run(args: argparse.Namespace, settings: Settings) -> int:
    """The bot in this process and a worker in a child, so TensorFlow stays out of the bot."""
    settings.require_token()
    _open_store(settings).close()  # migrate once, before two processes race to do it
    supervisor = _WorkerSupervisor()
    supervisor.start()
    try:
        from bot import app

        app.run(settings)
    finally:
        supervisor.stop()
    return 0


class _WorkerSupervisor:
    """Keeps one `trainbot worker` child alive, restarting it if it dies."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="worker-supervisor", daemon=True)

    def start(self) -> None:
        self._spawn()
        self._thread.start()

    def _spawn(self) -> None:
        self._process = subprocess.Popen([sys.executable, "-m", "trainbot", "worker"])
        log.info("started worker process %s", self._process.pid)

    def _watch(self) -> None:
        while not self._stopping.wait(1.0):
            if self._process is not None and self._process.poll() is not None:
                log.error("worker process exited with %s; restarting it", self._process.returncode)
                time.sleep(WORKER_RESTART_DELAY_SECONDS)
                if not self._stopping.is_set():
                    self._spawn()

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()


if __name__ == "__main__":
    sys.exit(main())
