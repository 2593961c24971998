"""Executors run the chunks of an LF application: in this process or in worker processes."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
from typing import Any, Protocol

from labelloop.errors import ValidationError
from labelloop.weak._pool import ProcessPool
from labelloop.weak._runner import Interrupt, LFFailure, Task, on_alarm, on_sigint, run_chunk


class _Handlers:
    """Signal handlers for a local run: SIGALRM for timeouts, SIGINT to tell a real Ctrl-C
    from an LF raising ``KeyboardInterrupt`` (main thread only: elsewhere none arrives)."""

    def __init__(self, alarm: bool) -> None:
        self.alarm = alarm
        self.previous: Any = None
        self.sigint = False

    def __enter__(self) -> None:
        main = threading.current_thread() is threading.main_thread()
        if self.alarm:
            if not main or not hasattr(signal, "setitimer"):
                raise ValidationError(
                    "timeout needs the main thread of a Unix process: "
                    "use executor='processes' or timeout=None"
                )
            self.previous = signal.signal(signal.SIGALRM, on_alarm)
        Interrupt.requested = False
        if main and callable(signal.getsignal(signal.SIGINT)):
            Interrupt.previous = signal.signal(signal.SIGINT, on_sigint)
            self.sigint = True

    def __exit__(self, *exc: object) -> None:
        if self.alarm:
            signal.signal(signal.SIGALRM, self.previous)
        if self.sigint:
            signal.signal(signal.SIGINT, Interrupt.previous)


class Executor(Protocol):
    """Runs the chunks of an LF application; results come back in chunk order."""

    def run(self, task: Task, bounds: list[tuple[int, int]]) -> list[tuple[Any, list[LFFailure]]]:
        """Apply ``task`` to each ``(start, stop)`` chunk."""
        ...


class LocalExecutor:
    """Runs every chunk in this process, one after the other."""

    def run(self, task: Task, bounds: list[tuple[int, int]]) -> list[tuple[Any, list[LFFailure]]]:
        """Apply ``task`` to each chunk here."""
        with _Handlers(task.timeout is not None):
            return [run_chunk(task, a, b) for a, b in bounds]


class ProcessExecutor:
    """Runs chunks in worker processes (``fork`` where available, so LFs need not pickle).

    A worker that dies (a segfault, ``os._exit``) costs only the cell it was on: that LF on
    that item is recorded as ``crashed`` and a fresh worker does the rest of its chunk. With
    a ``timeout``, a worker stuck on one item past twice the limit (a hang inside C code
    that ``SIGALRM`` cannot end) is stopped the same way and the cell recorded as
    ``timeout``.

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
        return ProcessPool(task, workers, method).run(bounds)
