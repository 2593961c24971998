"""Apply labeling functions to items, with per-item fault tolerance and timeouts.

Every failure is recorded, never silently dropped: an LF that raises on an item, returns
something that is not a class index, or runs past ``timeout`` leaves ``ABSTAIN`` in that
cell and one ``LFFailure`` in the result; all other votes are kept. An LF that times
out ``max_timeouts`` times is disabled for the rest of its chunk (one more record says
so), so a hanging LF costs at most ``max_timeouts * timeout`` seconds per chunk.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from labelloop.core.matrix import ABSTAIN
from labelloop.errors import ValidationError
from labelloop.weak.items import as_rows
from labelloop.weak.lf import LabelingFunction

FailureKind = Literal["error", "invalid", "timeout", "disabled", "crashed"]


@dataclass(frozen=True)
class LFFailure:
    """One LF that failed on one item (``kind="disabled"``: on the rest of a chunk)."""

    item: int
    lf: str
    kind: FailureKind
    error: str


@dataclass
class ApplyResult:
    """The label matrix and what went wrong while building it."""

    L: npt.NDArray[np.int64]
    lf_names: list[str]
    failures: list[LFFailure] = field(default_factory=list)

    def failure_counts(self) -> dict[str, int]:
        """Number of failed items per LF name."""
        return dict(Counter(f.lf for f in self.failures))

    def report(self) -> str:
        """A short human-readable failure report (empty string when nothing failed)."""
        if not self.failures:
            return ""
        lines = [f"{len(self.failures)} failure(s) while applying {len(self.lf_names)} LFs:"]
        by_lf: dict[str, list[LFFailure]] = {}
        for f in self.failures:
            by_lf.setdefault(f.lf, []).append(f)
        for name, fs in by_lf.items():
            kinds = Counter(f.kind for f in fs)
            first = fs[0]
            what = ", ".join(f"{n} {k}" for k, n in kinds.items())
            lines.append(f"  {name}: {what}; first on item {first.item}: {first.error}")
        return "\n".join(lines)

    def to_sparse(self) -> Any:
        """The matrix as SciPy CSR holding ``label + 1`` (0 = abstain), for large ``n``."""
        from scipy import sparse

        return sparse.csr_matrix(self.L + 1)


class _Timeout(BaseException):
    """Raised inside an LF call by the alarm; BaseException so LFs' ``except Exception`` miss it."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise _Timeout


def _lf_name(lf: Any, j: int) -> str:
    return str(getattr(lf, "name", None) or getattr(lf, "__name__", None) or f"lf_{j}")


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


@dataclass
class _Task:
    lfs: list[Any]
    names: list[str]
    rows: Sequence[Any]
    fault_tolerant: bool
    timeout: float | None
    max_timeouts: int


def _vote_or_fail(
    value: Any, i: int, name: str, failures: list[LFFailure], fault_tolerant: bool
) -> int:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= ABSTAIN:
        return int(value)
    message = f"returned {value!r}; an LF returns a class index >= 0 or -1 (ABSTAIN)"
    if not fault_tolerant:
        raise ValidationError(f"labeling function {name!r} {message}")
    failures.append(LFFailure(i, name, "invalid", message))
    return ABSTAIN


def _run_chunk(task: _Task, start: int, stop: int) -> tuple[npt.NDArray[np.int64], list[LFFailure]]:
    """Apply every LF to rows ``start:stop``; the core loop of every executor."""
    m = len(task.lfs)
    out = np.full((stop - start, m), ABSTAIN, dtype=np.int64)
    failures: list[LFFailure] = []
    rows = task.rows[start:stop]
    batch = [j for j, lf in enumerate(task.lfs) if hasattr(lf, "apply_batch")]
    for j in batch:
        try:
            out[:, j] = task.lfs[j].apply_batch(rows)
        except Exception as exc:
            if not task.fault_tolerant:
                raise
            failures.extend(
                LFFailure(start + i, task.names[j], "error", _describe(exc))
                for i in range(len(rows))
            )
    single = sorted(set(range(m)) - set(batch))
    split = [isinstance(task.lfs[j], LabelingFunction) and bool(task.lfs[j].pre) for j in single]
    timeouts = [0] * m
    alarm = task.timeout is not None
    seconds = task.timeout or 0.0
    for r, x in enumerate(rows):
        i = start + r
        prepared: dict[tuple[int, ...], Any] = {}
        for j, has_pre in zip(single, split, strict=True):
            lf = task.lfs[j]
            if timeouts[j] >= task.max_timeouts:
                continue
            try:
                if alarm:
                    signal.setitimer(signal.ITIMER_REAL, seconds)
                if has_pre:
                    key = tuple(id(p) for p in lf.pre)
                    if key not in prepared:
                        prepared[key] = lf.prepare(x)
                    value = lf.label(prepared[key])
                else:
                    value = lf(x)
                if alarm:
                    signal.setitimer(signal.ITIMER_REAL, 0)
            except _Timeout:
                if not task.fault_tolerant:
                    raise TimeoutError(
                        f"labeling function {task.names[j]!r} timed out on item {i}"
                    ) from None
                timeouts[j] += 1
                failures.append(
                    LFFailure(i, task.names[j], "timeout", f"no answer in {task.timeout} s")
                )
                if timeouts[j] == task.max_timeouts and r + 1 < len(rows):
                    failures.append(
                        LFFailure(
                            i + 1,
                            task.names[j],
                            "disabled",
                            f"disabled after {task.max_timeouts} timeouts "
                            f"on items {i + 1}..{stop - 1}",
                        )
                    )
                continue
            except Exception as exc:
                if alarm:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                if not task.fault_tolerant:
                    raise
                failures.append(LFFailure(i, task.names[j], "error", _describe(exc)))
                continue
            out[r, j] = _vote_or_fail(value, i, task.names[j], failures, task.fault_tolerant)
    return out, failures


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
            self.previous = signal.signal(signal.SIGALRM, _on_alarm)

    def __exit__(self, *exc: object) -> None:
        if self.needed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)


class Executor(Protocol):
    """Runs the chunks of an LF application; results come back in chunk order."""

    def run(self, task: _Task, bounds: list[tuple[int, int]]) -> list[tuple[Any, list[LFFailure]]]:
        """Apply ``task`` to each ``(start, stop)`` chunk."""
        ...


class LocalExecutor:
    """Runs every chunk in this process, one after the other."""

    def run(self, task: _Task, bounds: list[tuple[int, int]]) -> list[tuple[Any, list[LFFailure]]]:
        """Apply ``task`` to each chunk here."""
        with _AlarmHandler(task.timeout is not None):
            return [_run_chunk(task, a, b) for a, b in bounds]


_WORKER_TASK: _Task | None = None


def _init_worker(task: _Task) -> None:
    global _WORKER_TASK
    _WORKER_TASK = task
    if task.timeout is not None:
        signal.signal(signal.SIGALRM, _on_alarm)


def _work(bounds: tuple[int, int]) -> tuple[Any, list[LFFailure]]:
    assert _WORKER_TASK is not None  # set by _init_worker in every worker
    return _run_chunk(_WORKER_TASK, *bounds)


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

    def run(self, task: _Task, bounds: list[tuple[int, int]]) -> list[tuple[Any, list[LFFailure]]]:
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
            futures = [pool.submit(_work, b) for b in bounds]
            for c, fut in enumerate(futures):
                try:
                    results[c] = fut.result()
                except BrokenProcessPool as exc:
                    a, b = bounds[c]
                    empty = np.full((b - a, len(task.lfs)), ABSTAIN, dtype=np.int64)
                    lost = [
                        LFFailure(i, name, "crashed", _describe(exc) or "worker process died")
                        for i in range(a, b)
                        for name in task.names
                    ]
                    results[c] = (empty, lost)
        return [r for r in results if r is not None]


def _executor(executor: str | Executor, n_jobs: int | None) -> Executor:
    if executor == "local":
        return LocalExecutor()
    if executor == "processes":
        return ProcessExecutor(n_jobs)
    if isinstance(executor, str):
        raise ValidationError(
            f"executor must be 'local', 'processes' or an Executor, got {executor!r}"
        )
    return executor


def apply_lfs(
    lfs: Iterable[Callable[[Any], int]],
    items: Any,
    *,
    executor: Literal["local", "processes"] | Executor = "local",
    fault_tolerant: bool = True,
    timeout: float | None = None,
    max_timeouts: int = 3,
    chunk_size: int | None = None,
    n_jobs: int | None = None,
    item_ids: Sequence[Hashable] | None = None,
) -> ApplyResult:
    """Apply labeling functions to items and return the label matrix with a failure report.

    Parameters
    ----------
    lfs:
        Labeling functions: ``LabelingFunction`` objects, Snorkel LFs, or any callable
        ``f(x) -> int`` (named by ``.name`` or ``__name__``).
    items:
        A pandas DataFrame, a sequence of dicts, strings (seen as ``x.text``) or objects
        with attribute access.
    executor:
        ``"local"`` (this process), ``"processes"`` (a process pool) or an ``Executor``.
    fault_tolerant:
        Record failures and go on (default). When False the first error is raised.
    timeout:
        Seconds one LF may spend on one item (None: no limit). Uses ``SIGALRM``, so it
        interrupts Python code and blocking calls, not a C extension that never returns
        to the interpreter; local runs need the main thread.
    max_timeouts:
        Timeouts after which an LF is disabled for the rest of its chunk.
    chunk_size:
        Items per chunk (default: all in one chunk locally, ~4 chunks per worker).
    n_jobs:
        Workers for ``executor="processes"``.
    item_ids:
        Not used in the matrix; checked to have one id per item, for callers that keep
        ids beside ``L``.
    """
    lf_list = list(lfs)
    if not lf_list:
        raise ValidationError("apply_lfs needs at least one labeling function")
    for lf in lf_list:
        if not callable(lf):
            raise ValidationError(f"labeling functions must be callable, got {lf!r}")
    names = [_lf_name(lf, j) for j, lf in enumerate(lf_list)]
    dupes = sorted(n for n, c in Counter(names).items() if c > 1)
    if dupes:
        raise ValidationError(f"labeling function names must be unique; repeated: {dupes}")
    if timeout is not None and timeout <= 0:
        raise ValidationError(f"timeout must be a positive number of seconds, got {timeout}")
    if max_timeouts < 1:
        raise ValidationError(f"max_timeouts must be >= 1, got {max_timeouts}")
    rows = as_rows(items)
    n = len(rows)
    if item_ids is not None and len(item_ids) != n:
        raise ValidationError(f"item_ids has {len(item_ids)} entries for {n} items")
    runner = _executor(executor, n_jobs)
    if chunk_size is None:
        parts = 1 if isinstance(runner, LocalExecutor) else 4 * (n_jobs or os.cpu_count() or 1)
        chunk_size = max(1, -(-n // parts))
    if chunk_size < 1:
        raise ValidationError(f"chunk_size must be >= 1, got {chunk_size}")
    bounds = [(a, min(a + chunk_size, n)) for a in range(0, n, chunk_size)]
    task = _Task(lf_list, names, rows, fault_tolerant, timeout, max_timeouts)
    results = runner.run(task, bounds) if bounds else []
    L = (
        np.concatenate([r[0] for r in results])
        if results
        else np.full((0, len(lf_list)), ABSTAIN, dtype=np.int64)
    )
    failures = [f for r in results for f in r[1]]
    failures.sort(key=lambda f: (f.item, names.index(f.lf)))
    return ApplyResult(L, names, failures)
