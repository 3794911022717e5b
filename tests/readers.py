"""Readers for the parse pool's tests: each does to its child process what a hostile file could.

They live in a module of their own, with light imports, because the pool's child imports the
reader's module by name.
"""

from __future__ import annotations

import os
import signal

from trainer.errors import DatasetError


def doubles(value: int) -> int:
    return 2 * value


def refuses(sentence: str) -> None:
    raise DatasetError(sentence)


def spins() -> None:
    """Runs until its CPU time or the pool's clock stops it."""
    while True:
        pass


def hoards(megabytes: int) -> int:
    """Asks for more memory than a file may use."""
    kept = [bytearray(1_000_000) for _ in range(megabytes)]
    return len(kept)


def dies() -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


def pid() -> int:
    return os.getpid()
