"""Apply labeling functions to items, with per-item fault tolerance and timeouts.

Every failure is recorded, never silently dropped: an LF that raises on an item (any
exception, ``SystemExit`` included), returns something that is not a class index (or one
``>= k``), runs past ``timeout`` or kills its worker process leaves ``ABSTAIN`` in that
cell and one ``LFFailure`` in the result; all other votes are kept. An LF that times
out ``max_timeouts`` times is disabled for the rest of its chunk (one more record says
so), so a hanging LF costs at most ``max_timeouts * timeout`` seconds per chunk.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from labelloop.core.matrix import ABSTAIN, compact_dtype
from labelloop.errors import ValidationError
from labelloop.exec import Executor as ChunkExecutor
from labelloop.exec import LocalExecutor as LocalChunks
from labelloop.exec import ProcessExecutor as ProcessChunks
from labelloop.exec import make_executor
from labelloop.weak._runner import LFFailure, Task, run_chunk
from labelloop.weak.executors import Executor, LocalExecutor, ProcessExecutor, _Handlers
from labelloop.weak.items import as_rows


@dataclass
class ApplyResult:
    """The label matrix and what went wrong while building it.

    ``L`` is compact: ``int8`` when ``k`` was given and is at most 127 (see
    :func:`labelloop.core.matrix.compact_dtype`), else ``int64``.
    """

    L: npt.NDArray[np.signedinteger[Any]]
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


def _lf_name(lf: Any, j: int) -> str:
    return str(getattr(lf, "name", None) or getattr(lf, "__name__", None) or f"lf_{j}")


ExecutorLike = str | Executor | ChunkExecutor
"""``"local"``, ``"processes"``, ``"dask"``, ``"tcp://HOST:PORT"``, a
:class:`labelloop.exec.Executor` or an LF :class:`~labelloop.weak.Executor`."""


def _lf_runner(executor: ExecutorLike, n_jobs: int | None) -> Executor | ChunkExecutor:
    """The LF executor for ``local`` and ``processes`` (fault confinement, timeouts), else
    the :mod:`labelloop.exec` executor ``executor`` names."""
    if executor == "local" or isinstance(executor, LocalChunks):
        return LocalExecutor()
    if executor == "processes":
        return ProcessExecutor(n_jobs)
    if isinstance(executor, ProcessChunks):
        return ProcessExecutor(n_jobs or executor.n_workers)
    if isinstance(executor, str):
        return make_executor(executor, n_workers=n_jobs)
    if isinstance(executor, ChunkExecutor) or hasattr(executor, "run"):
        return executor
    raise ValidationError(
        f"executor must be 'local', 'processes', 'dask', a scheduler address or an Executor, "
        f"got {executor!r}"
    )


@dataclass
class LFChunk:
    """Applies labeling functions to one chunk of rows: the chunk function of every executor.

    Called with ``(start, rows)``, it returns the chunk's votes (``len(rows), n_lfs``; compact
    when ``k`` is known) and its failures, items numbered from ``start``. ``inner`` runs the
    chunk in this process (``"local"``) or spreads it over a confined process pool
    (``"processes"``, ``n_jobs`` workers): an LF that kills its worker costs one cell.
    """

    lfs: list[Any]
    names: list[str]
    fault_tolerant: bool = True
    timeout: float | None = None
    max_timeouts: int = 3
    k: int | None = None
    inner: Literal["local", "processes"] = "local"
    n_jobs: int | None = None

    def __call__(
        self, payload: tuple[int, Any]
    ) -> tuple[npt.NDArray[np.signedinteger[Any]], list[LFFailure]]:
        """Votes and failures of the LFs on the rows of ``payload = (start, rows)``; rows
        are dicts, strings or objects, as :func:`apply_lfs` takes them."""
        start, items = payload
        rows = as_rows(items)
        task = Task(self.lfs, self.names, rows, self.fault_tolerant, self.timeout,
                    self.max_timeouts, self.k)
        n = len(rows)
        if self.inner == "processes" and n:
            parts = 4 * (self.n_jobs or os.cpu_count() or 1)
            size = max(1, -(-n // parts))
            bounds = [(a, min(a + size, n)) for a in range(0, n, size)]
            results = ProcessExecutor(self.n_jobs).run(task, bounds)
            L = np.concatenate([r[0] for r in results])
            failures = [f for r in results for f in r[1]]
        else:
            with _Handlers(task.timeout is not None):
                L, failures = run_chunk(task, 0, n)
        if start:
            failures = [LFFailure(f.item + start, f.lf, f.kind, f.error) for f in failures]
        return L.astype(_dtype(self.k), copy=False), list(failures)


def _dtype(k: int | None) -> type[np.signedinteger[Any]]:
    return np.int64 if k is None else compact_dtype(k)


def check_lfs(
    lfs: Iterable[Callable[[Any], int]],
    *,
    timeout: float | None = None,
    k: int | None = None,
    max_timeouts: int = 3,
) -> tuple[list[Any], list[str]]:
    """The LFs as a list and their names, after checking them and the options of a run.

    Raises
    ------
    ValidationError
        For no LF, one that is not callable, repeated names, or a bad option.
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
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
        raise ValidationError(f"k must be a number of classes >= 1, got {k!r}")
    if max_timeouts < 1:
        raise ValidationError(f"max_timeouts must be >= 1, got {max_timeouts}")
    return lf_list, names


def apply_lfs(
    lfs: Iterable[Callable[[Any], int]],
    items: Any,
    *,
    executor: ExecutorLike = "local",
    fault_tolerant: bool = True,
    timeout: float | None = None,
    max_timeouts: int = 3,
    chunk_size: int | None = None,
    n_jobs: int | None = None,
    k: int | None = None,
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
        ``"local"`` (this process), ``"processes"`` (a process pool confining a dying
        worker to one cell), ``"dask"`` (a Dask ``LocalCluster``), a Dask scheduler address
        ``"tcp://HOST:PORT"``, a :class:`labelloop.exec.Executor` or an LF ``Executor``.
        Timeouts need ``"local"`` or ``"processes"`` (``SIGALRM`` in the main thread).
    fault_tolerant:
        Record failures and go on (default). When False the first error is raised.
    timeout:
        Seconds one LF may spend on one item (None: no limit). Uses ``SIGALRM``, so it
        interrupts Python code and blocking calls, not a C extension that never returns
        to the interpreter; local runs need the main thread. With ``"processes"``, a
        worker stuck on one item past ``2 * timeout + 2`` s (a hang in C code) is stopped
        and that cell recorded as a timeout.
    max_timeouts:
        Timeouts after which an LF is disabled for the rest of its chunk.
    chunk_size:
        Items per chunk (default: all in one chunk locally, ~4 chunks per worker).
    n_jobs:
        Workers for ``executor="processes"``.
    k:
        Number of classes: a vote >= ``k`` is recorded as an ``invalid`` failure of that
        LF on that item and dropped (None: any class index >= 0 is kept).

    Notes
    -----
    Every fault is confined to the (LF, item) cell where it happened: whatever the LF
    raises (``SystemExit`` included; only a real Ctrl-C stops the run), a bad return
    value, a timeout, or, with ``executor="processes"``, a worker process it kills.
    """
    lf_list, names = check_lfs(lfs, timeout=timeout, k=k, max_timeouts=max_timeouts)
    rows = as_rows(items)
    n = len(rows)
    runner = _lf_runner(executor, n_jobs)
    if chunk_size is None:
        workers = getattr(runner, "n_workers", None) or n_jobs or os.cpu_count() or 1
        parts = 1 if isinstance(runner, LocalExecutor) else 4 * workers
        chunk_size = max(1, -(-n // parts))
    if chunk_size < 1:
        raise ValidationError(f"chunk_size must be >= 1, got {chunk_size}")
    bounds = [(a, min(a + chunk_size, n)) for a in range(0, n, chunk_size)]
    if isinstance(runner, ChunkExecutor):
        if timeout is not None:
            raise ValidationError(
                f"timeout needs executor 'local' or 'processes', not {runner.name!r}"
            )
        fn = LFChunk(lf_list, names, fault_tolerant, None, max_timeouts, k)
        try:
            done = dict(runner.map_chunks(fn, ((c, (a, rows[a:b]))
                                              for c, (a, b) in enumerate(bounds))))
        finally:
            if runner is not executor:
                runner.close()
        results = [done[c] for c in range(len(bounds))]
    else:
        task = Task(lf_list, names, rows, fault_tolerant, timeout, max_timeouts, k)
        results = runner.run(task, bounds) if bounds else []
    dtype = _dtype(k)
    L = (
        np.concatenate([r[0] for r in results]).astype(dtype, copy=False)
        if results
        else np.full((0, len(lf_list)), ABSTAIN, dtype=dtype)
    )
    failures = [f for r in results for f in r[1]]
    order = {name: j for j, name in enumerate(names)}
    failures.sort(key=lambda f: (f.item, order[f.lf]))
    return ApplyResult(L, names, failures)
