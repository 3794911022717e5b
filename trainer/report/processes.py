"""Drawing a batch's reports on every core: a pool of processes that only draw.

A report's PNG is about 0.15 to 0.2 s of matplotlib, once per job. On a CPU that is as much
as the batch's fit costs per job, and on a GPU host nearly all of a batch's time. matplotlib
holds the GIL, so threads would draw one at a time; processes draw side by side. They are
spawned (the worker's backend threads make fork unsafe) with the first batch, import only
what drawing needs (trainer.report.drawing: matplotlib, NumPy, no Keras) and stay for the next ones.
A drawing that fails is that job's alone (its reply says the plot is missing); a pool that
breaks is replaced, and the batch is drawn here meanwhile.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from trainer.report.data import Report
from trainer.report.drawing import draw_report_png

log = logging.getLogger(__name__)


class PlotPool:
    """Draws reports in up to `processes` processes (default: one per core)."""

    def __init__(self, processes: int | None = None) -> None:
        self.processes = processes or os.cpu_count() or 1
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def draw_all(self, reports: Sequence[Report]) -> list[bytes | Exception]:
        """Each report's PNG, or the exception its drawing raised, in order."""
        if len(reports) <= 1 or self.processes <= 1:
            return [_drawn_here(report) for report in reports]
        try:
            futures = [self._pool().submit(draw_report_png, report) for report in reports]
            return [_outcome(future) for future in futures]
        except BrokenProcessPool:
            log.warning("the plot processes broke; drawing this batch here", exc_info=True)
            self.close()
            return [_drawn_here(report) for report in reports]

    def close(self) -> None:
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    self.processes, mp_context=multiprocessing.get_context("spawn")
                )
            return self._executor


def _outcome(future: Future[bytes]) -> bytes | Exception:
    try:
        return future.result()
    except BrokenProcessPool:
        raise
    except Exception as error:
        return error


def _drawn_here(report: Report) -> bytes | Exception:
    try:
        return draw_report_png(report)
    except Exception as error:
        return error


_shared: dict[int, PlotPool] = {}
_shared_lock = threading.Lock()


def shared(processes: int = 0) -> PlotPool:
    """This process's pool of `processes` drawing processes (0: one per core), kept for the
    next batches once made (TRAINBOT_PLOT_PROCESSES)."""
    with _shared_lock:
        return _shared.setdefault(processes, PlotPool(processes or None))
