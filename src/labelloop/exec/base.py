"""The executor interface shared by the heavy steps, and the two executors without Dask.

An executor maps a function over *chunks*: ``map_chunks(fn, payloads)`` takes an iterable of
``(index, payload)`` pairs, read lazily so a caller can stream chunks from the store, keeps a
bounded number of them in flight and yields ``(index, fn(payload))`` as each one finishes
(not in index order). The caller writes each finished chunk back and can record it as done,
so an interrupted job resumes where it stopped.

Fault policy: ``fn`` itself records per-item errors (an LF raising on one item, a model
failing on one text) in its result; an exception that escapes ``fn`` fails the whole run.
A worker process that dies is the executor's business: Dask runs its chunks again on
another worker; :class:`ProcessExecutor` raises :class:`~labelloop.errors.LabelloopError`.

Heavy state (a model, compiled LFs) is loaded once per worker process with
:func:`worker_cached`.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar, runtime_checkable

from labelloop.errors import LabelloopError, ValidationError

R = TypeVar("R")
T = TypeVar("T")

_CACHE: OrderedDict[str, Any] = OrderedDict()
_CACHE_SIZE = 4
_CACHE_LOCK = threading.Lock()


def worker_cached(key: str, factory: Callable[[], T]) -> T:
    """The object ``factory()`` made the first time this process asked for ``key``.

    A chunk function calls it to load a model or compile its LFs once per worker process
    instead of once per chunk. The few most recently used keys are kept.

    Parameters
    ----------
    key:
        Identifies what ``factory`` builds (e.g. the model name and version).
    factory:
        Builds the object; called at most once per process while ``key`` stays cached.
    """
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]  # type: ignore[no-any-return]
    value = factory()
    with _CACHE_LOCK:
        _CACHE[key] = value
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return value


@runtime_checkable
class Executor(Protocol):
    """Runs a function over chunks, a bounded number at a time, yielding them as they finish."""

    @property
    def name(self) -> str:
        """``"local"``, ``"processes"`` or ``"dask"``."""
        ...

    @property
    def n_workers(self) -> int:
        """Workers that run chunks at the same time."""
        ...

    def map_chunks(
        self,
        fn: Callable[[Any], R],
        payloads: Iterable[tuple[int, Any]],
        *,
        window: int | None = None,
    ) -> Iterator[tuple[int, R]]:
        """Yield ``(index, fn(payload))`` for every ``(index, payload)``, in finishing order.

        ``payloads`` is read lazily: at most ``window`` chunks (default: two per worker) are
        in flight, so a caller streaming chunks from storage holds only those in memory.
        """
        ...

    def close(self) -> None:
        """Release the workers (and a cluster this executor started)."""
        ...


class _Closing:
    """Context-manager support shared by the executors."""

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalExecutor(_Closing):
    """Runs every chunk in this process, one after the other (in the main thread, so LF
    timeouts by ``SIGALRM`` work)."""

    name = "local"
    n_workers = 1

    def map_chunks(
        self,
        fn: Callable[[Any], R],
        payloads: Iterable[tuple[int, Any]],
        *,
        window: int | None = None,
    ) -> Iterator[tuple[int, R]]:
        """Run ``fn`` on each payload here, in order."""
        for index, payload in payloads:
            yield index, fn(payload)


def _call(fn: Callable[[Any], R], payload: Any) -> R:
    return fn(payload)


class ProcessExecutor(_Closing):
    """Runs chunks in a pool of worker processes (``fork`` where available).

    Parameters
    ----------
    n_workers:
        Worker processes; default: the number of CPUs.
    """

    name = "processes"

    def __init__(self, n_workers: int | None = None) -> None:
        if n_workers is not None and n_workers < 1:
            raise ValidationError(f"n_workers must be >= 1, got {n_workers}")
        self.n_workers = n_workers or os.cpu_count() or 1
        self._pool: ProcessPoolExecutor | None = None

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
            self._pool = ProcessPoolExecutor(self.n_workers, mp_context=mp.get_context(method))
        return self._pool

    def map_chunks(
        self,
        fn: Callable[[Any], R],
        payloads: Iterable[tuple[int, Any]],
        *,
        window: int | None = None,
    ) -> Iterator[tuple[int, R]]:
        """Run ``fn`` on the payloads in the pool; results as they finish."""
        pool = self._get_pool()
        limit = window or 2 * self.n_workers
        running: dict[Future[R], int] = {}
        source = iter(payloads)
        try:
            while True:
                for index, payload in source:
                    running[pool.submit(_call, fn, payload)] = index
                    if len(running) >= limit:
                        break
                if not running:
                    return
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    index = running.pop(fut)
                    try:
                        result = fut.result()
                    except BrokenProcessPool as exc:
                        self.close()
                        raise LabelloopError(
                            f"a worker process died while running chunk {index}; "
                            "finished chunks are kept, run the job again to resume"
                        ) from exc
                    yield index, result
        finally:
            for fut in running:
                fut.cancel()

    def close(self) -> None:
        """Stop the worker processes."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


ExecutorSpec = str | Executor
"""``"local"``, ``"processes"``, ``"dask"``, a scheduler address ``"tcp://HOST:PORT"`` or an
:class:`Executor`."""

NAMES = ("local", "processes", "dask")


def check_spec(spec: ExecutorSpec) -> None:
    """Raise ValidationError unless ``spec`` names an executor (nothing is started).

    Raises
    ------
    ValidationError
        For a name that :func:`make_executor` does not take.
    """
    if isinstance(spec, str):
        if spec in NAMES or "://" in spec:
            return
        raise ValidationError(
            f"executor must be one of {', '.join(NAMES)} or a scheduler address "
            f"like tcp://HOST:PORT, got {spec!r}"
        )
    if not isinstance(spec, Executor):
        raise ValidationError(f"executor must be a name or an Executor, got {spec!r}")


def make_executor(spec: ExecutorSpec | None = None, *, n_workers: int | None = None) -> Executor:
    """The executor ``spec`` names (an :class:`Executor` passes through).

    Parameters
    ----------
    spec:
        ``"local"`` (default), ``"processes"``, ``"dask"`` (starts a ``LocalCluster`` of
        ``n_workers`` single-threaded worker processes) or the address of a running Dask
        scheduler (``"tcp://HOST:PORT"``, also ``tls://``, ``ucx://``, ``inproc://``).
    n_workers:
        Workers for ``"processes"`` and ``"dask"`` (default: the number of CPUs).

    Raises
    ------
    ValidationError
        For a name that is none of these.
    MissingDependencyError
        For Dask without the ``dask`` extra.
    """
    if spec is None or spec == "local":
        return LocalExecutor()
    check_spec(spec)
    if not isinstance(spec, str):
        return spec
    if spec == "processes":
        return ProcessExecutor(n_workers)
    from labelloop.exec.dask import DaskExecutor

    return DaskExecutor(None if spec == "dask" else spec, n_workers=n_workers)


@contextmanager
def executor_for(spec: ExecutorSpec | None = None, *, n_workers: int | None = None
                 ) -> Iterator[Executor]:
    """The executor ``spec`` names for the ``with`` block, closed at its end if this call
    started it (an :class:`Executor` passed in stays open: it is the caller's).

    Parameters and errors as for :func:`make_executor`.
    """
    runner = make_executor(spec, n_workers=n_workers)
    try:
        yield runner
    finally:
        if runner is not spec:
            runner.close()
