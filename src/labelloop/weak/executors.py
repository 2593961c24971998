"""Executors run the chunks of an LF application: in this process or in worker processes."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

import numpy as np

from labelloop.core.matrix import ABSTAIN
from labelloop.errors import ValidationError
from labelloop.weak._runner import LFFailure, Task, describe, on_alarm, run_chunk


class _AlarmHandler:
    """Installs the SIGALRM handler for the duration of a run (main thread only)."""

    def __init__(self, needed: bool) -> None:
        self.needed = needed
        self.previous: Any = None

    def __enter__(self) -> None:
        if self.needed:
            if threading.current_thread() is not threading.main_thread() or not hasattr(
                signal, "setitimer"
            ):
                raise ValidationError(
                    "timeout needs the main thread of a Unix process: "
                    "use executor='processes' or timeout=None"
                )
            self.previous = signal.signal(signal.SIGALRM, on_alarm)

    def __exit__(self, *exc: object) -> None:
        if self.needed:
            signal.signal(signal.SIGALRM, self.previous)


class Executor(Protocol):
    """Runs the chunks of an LF application; results come back in chunk order."""

    def run(self, task: Task, bounds: list[tuple[int, int]]) -> list[tuple[Any, list[LFFailure]]]:
        """Apply ``task`` to each ``(start, stop)`` chunk."""
        ...


class LocalExecutor:
    """Runs every chunk in this process, one after the other."""

    def run(self, task: Task, bounds: list[tuple[int, int]]) -> list[tuple[Any, list[LFFailure]]]:
        """Apply ``task`` to each chunk here."""
        with _AlarmHandler(task.timeout is not None):
            return [run_chunk(task, a, b) for a, b in bounds]


_WORKER_TASK: Task | None = None


def _init_worker(task: Task) -> None:
    global _WORKER_TASK
    _WORKER_TASK = task
    if task.timeout is not None:
        signal.signal(signal.SIGALRM, on_alarm)


def _work(bounds: tuple[int, int]) -> tuple[Any, list[LFFailure]]:
    assert _WORKER_TASK is not None  # set by _init_worker in every worker
    return run_chunk(_WORKER_TASK, *bounds)


class ProcessExecutor:
    """Runs chunks in worker processes (``fork`` where available, so LFs need not pickle).

    A worker that dies (a segfault, ``os._exit``) does not take the batch down: the
    chunks it left unfinished are recorded as ``crashed`` failures for every LF.

    Parameters
    ----------
    n_jobs:
        Worker processes; default: the number of CPUs.
    """

    def __init__(self, n_jobs: int | None = None) -> None:
        self.n_jobs = n_jobs

    def run(self, task: Task, bounds: list[tuple[int, int]]) -> list[tuple[Any, list[LFFailure]]]:
        """Apply ``task`` to the chunks in parallel."""
        method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        workers = self.n_jobs or os.cpu_count() or 1
        results: list[tuple[Any, list[LFFailure]] | None] = [None] * len(bounds)
        with ProcessPoolExecutor(
            max_workers=workers,
            mp_context=mp.get_context(method),
            initializer=_init_worker,
            initargs=(task,),
        ) as pool:
            futures: list[Any] = []
            for chunk in bounds:
                try:
                    futures.append(pool.submit(_work, chunk))
                except BrokenProcessPool as exc:  # a worker died while we were submitting
                    futures.append(exc)
            for c, fut in enumerate(futures):
                try:
                    if isinstance(fut, BrokenProcessPool):
                        raise fut
                    results[c] = fut.result()
                except BrokenProcessPool as exc:
                    lo, hi = bounds[c]
                    empty = np.full((hi - lo, len(task.lfs)), ABSTAIN, dtype=np.int64)
                    lost = [
                        LFFailure(i, name, "crashed", describe(exc) or "worker process died")
                        for i in range(lo, hi)
                        for name in task.names
                    ]
                    results[c] = (empty, lost)
        return [r for r in results if r is not None]
