"""Reading untrusted uploads where they cannot hurt the bot: in bounded child processes.

A file is parsed in a child process of its own, forked from a server process that has the
readers loaded already (multiprocessing's forkserver, preloaded with ``trainer.tables``), so a
child starts in milliseconds. The child limits itself before it reads a byte:
- CPU time (``RLIMIT_CPU``): past the file's time limit the kernel stops it;
- memory (``RLIMIT_AS``): its address space may grow by the memory limit, no further; a reader
  that asks for more gets a MemoryError (or dies, for calamine's Rust allocations).
The bot awaits the child's answer in a thread, so its event loop serves other chats meanwhile,
and ends a child that runs past the time limit. At most ``processes`` files are read at once
(a small pool); the others wait their turn. A child that dies takes nothing with it: the next
file gets a fresh one. What comes back is small (counts and names), so the bot's memory does
not grow with the file.

Outcomes are the reader's own errors (DatasetError, PredictError) raised again in the bot, or
ReadFailure with the sentence for a file that took too long, needed too much memory, or killed
its reader.
"""

from __future__ import annotations

import asyncio
import logging
import math
import multiprocessing
import os
import resource
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any, TypeVar

from trainer.errors import DatasetError, PredictError

if TYPE_CHECKING:
    from trainbot.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")
# What the server process imports once, for every child it forks ("__main__": the program's
# own script, which each child would otherwise import again).
PRELOAD = [
    "__main__",
    "bot.parse_pool",
    "trainer.tables.checks",
    "trainer.tables.workbook",
    "python_calamine",
    "charset_normalizer",
]
_ERRORS: dict[str, type[Exception]] = {"dataset": DatasetError, "predict": PredictError}


class ReadFailure(Exception):
    """A file whose reading was stopped: ``kind`` is "time", "memory" or "crash"."""

    def __init__(self, kind: str, seconds: float) -> None:
        super().__init__(kind)
        self.kind, self.seconds = kind, seconds


@dataclass
class ParsePool:
    """Runs a reader on an upload in a child process with CPU-time, memory and time limits."""

    processes: int = 2
    seconds: float = 30.0
    memory_bytes: int = 1_500_000_000

    def __post_init__(self) -> None:
        self._slots: asyncio.Semaphore | None = None
        self._warming: asyncio.Task[None] | None = None
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(PRELOAD)

    @classmethod
    def from_settings(cls, settings: Settings) -> ParsePool:
        return cls(
            processes=settings.parse_processes,
            seconds=settings.parse_seconds,
            memory_bytes=settings.parse_memory_mb * 1_000_000,
        )

    def warm(self) -> None:
        """Start the server process now (it loads the readers, about a second, in a thread),
        rather than at the first upload."""
        if self._warming is None:
            self._warming = asyncio.get_running_loop().create_task(self._warm())

    async def _warm(self) -> None:
        try:
            await self.run(_nothing)
        except Exception:  # a bot that cannot warm up still reads files later, or says why
            log.exception("starting the processes that read uploads failed")

    async def run(self, reader: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``reader(*args, **kwargs)`` in a bounded child; its errors raised here again."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.processes)
        async with self._slots:
            kind, value = await asyncio.to_thread(self._in_child, reader, args, kwargs)
        if kind == "ok":
            return value
        if kind in _ERRORS:
            raise _ERRORS[kind](value)
        raise ReadFailure(kind, self.seconds)

    def _in_child(self, reader: Callable[..., Any], args: tuple, kwargs: dict) -> tuple[str, Any]:
        receiver, sender = self._context.Pipe(duplex=False)
        limits = (self.seconds, self.memory_bytes)
        child = self._context.Process(
            target=_child, args=(sender, limits, reader, args, kwargs), daemon=True
        )
        started = time.monotonic()
        child.start()
        sender.close()
        try:
            if receiver.poll(self.seconds):
                return receiver.recv()
            return "time", None
        except (EOFError, OSError):  # it died before it answered
            return _death(child), None
        finally:
            if child.is_alive():
                child.kill()
            child.join()
            receiver.close()
            log.debug("read a file in %.3f s (exit %s)", time.monotonic() - started, child.exitcode)


def _nothing() -> None:
    return None


def _death(child: Any) -> str:
    child.join()
    if child.exitcode == -signal.SIGXCPU:
        return "time"
    # SIGABRT: calamine's allocation past the memory limit; SIGKILL: the kernel's OOM killer.
    return "memory" if child.exitcode in (-signal.SIGABRT, -signal.SIGKILL) else "crash"


def _child(
    sender: Connection,
    limits: tuple[float, int],
    reader: Callable[..., Any],
    args: tuple,
    kwargs: dict,
) -> None:
    seconds, memory = limits
    _limit_self(seconds, memory)
    try:
        outcome: tuple[str, Any] = ("ok", reader(*args, **kwargs))
    except DatasetError as error:
        outcome = ("dataset", str(error))
    except PredictError as error:
        outcome = ("predict", str(error))
    except MemoryError:
        outcome = ("memory", None)
    sender.send(outcome)
    sender.close()


def _limit_self(seconds: float, memory: int) -> None:
    cpu = math.ceil(seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    # The address space it has now (the readers, loaded) plus the memory a file may use.
    size = _address_space()
    if size is not None:
        resource.setrlimit(resource.RLIMIT_AS, (size + memory, size + memory))


def _address_space() -> int | None:
    try:
        with open(f"/proc/{os.getpid()}/status") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None
