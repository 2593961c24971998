"""Worker processes for LF application that confine a dying worker to one (LF, item) cell.

The label matrix lives in shared memory, filled with ``PENDING``; workers write every cell
in ``run_chunk``'s fixed order (batch LFs' columns, then row by row), and append each
failure record to a file of their own as it happens (the parent reads it when the worker
ends). When a worker dies (``os._exit``, a segfault, the OOM killer) or hangs inside C code
past the hard limit, the first ``PENDING`` cell of its unit is the (LF, item) it was on:
that cell alone is recorded, and a fresh worker does the rest of the unit. A batch LF that
kills its worker loses its column of the unit (it was working on all of those items at
once).
"""

from __future__ import annotations

import mmap
import multiprocessing as mp
import os
import pickle
import signal
import tempfile
import time
from bisect import bisect_right
from collections import deque
from contextlib import suppress
from dataclasses import dataclass
from multiprocessing import connection
from multiprocessing.shared_memory import SharedMemory
from typing import Any

import numpy as np
import numpy.typing as npt

from labelloop.core.matrix import ABSTAIN
from labelloop.errors import LabelloopError
from labelloop.weak._runner import (
    FailureKind,
    Interrupt,
    LFFailure,
    Task,
    describe,
    on_alarm,
    run_chunk,
)

PENDING = -2
"""A cell no worker has written yet (votes are >= -1)."""

Unit = tuple[int, int, tuple[int, ...], int]
"""Rows ``start:stop``, the LF columns to run, and the index of the chunk it belongs to."""


class _Report:
    """Writes failure records to the worker's file at once, so a dying worker loses none.

    One ``write`` per record to a file the parent reads when the worker ends: cheaper than a
    message, and what a process wrote before it died is still there.
    """

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND)

    def append(self, f: LFFailure) -> None:
        os.write(self.fd, pickle.dumps([(f.item, f.lf, f.kind, f.error)]))

    def extend(self, failures: Any) -> None:
        batch = [(f.item, f.lf, f.kind, f.error) for f in failures]
        if batch:
            os.write(self.fd, pickle.dumps(batch))


def _read_report(path: str) -> list[LFFailure]:
    out: list[LFFailure] = []
    with open(path, "rb") as fh:
        while True:
            try:
                out.extend(LFFailure(*rec) for rec in pickle.load(fh))
            except EOFError:
                return out


def _buffer(shared: mmap.mmap | SharedMemory) -> Any:
    return shared.buf if isinstance(shared, SharedMemory) else shared


def _worker(task: Task, shared: Any, shape: tuple[int, int], conn: Any, report: str) -> None:
    """Run the units the parent sends until it sends ``None``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    Interrupt.requested = False  # so a KeyboardInterrupt here is always the LF's own
    if task.timeout is not None:
        signal.signal(signal.SIGALRM, on_alarm)
    L: npt.NDArray[np.int64] = np.ndarray(shape, dtype=np.int64, buffer=_buffer(shared))
    failures = _Report(report)
    try:
        while (unit := conn.recv()) is not None:
            start, stop, cols, _ = unit
            run_chunk(task, start, stop, out=L[start:stop], failures=failures, cols=cols)
            conn.send(None)
    except BaseException as exc:  # hand every error to the parent
        try:
            conn.send(exc)
        except BaseException:  # an error that does not pickle
            conn.send(LabelloopError(describe(exc)))


@dataclass
class _Slot:
    proc: Any
    conn: Any
    report: str
    unit: Unit | None = None
    row: int = 0
    cell: int = -1
    since: float = 0.0


def _death(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"the worker process was killed by {signal.Signals(-code).name}"
        except ValueError:
            pass
    return f"the worker process died (exit code {code})"


class ProcessPool:
    """Runs ``task`` over ``bounds`` in ``workers`` processes started with ``method``."""

    def __init__(self, task: Task, workers: int, method: str) -> None:
        self.task = task
        self.workers = workers
        self.ctx: Any = mp.get_context(method)
        self.shape = (len(task.rows), len(task.lfs))
        size = max(8, self.shape[0] * self.shape[1] * 8)
        # fork shares an anonymous map; spawn needs a named segment
        self.shared: Any = mmap.mmap(-1, size) if method == "fork" else SharedMemory(
            create=True, size=size
        )
        self.L: npt.NDArray[np.int64] = np.ndarray(
            self.shape, dtype=np.int64, buffer=_buffer(self.shared)
        )
        self.L.fill(PENDING)
        self.failures: list[LFFailure] = []
        self.queue: deque[Unit] = deque()
        self.slots: list[_Slot] = []
        self.kills: dict[tuple[int, int], int] = {}
        self.error: BaseException | None = None

    def run(self, bounds: list[tuple[int, int]]) -> list[tuple[Any, list[LFFailure]]]:
        """Apply the task to every chunk; results in chunk order."""
        all_cols = tuple(range(self.shape[1]))
        self.queue.extend((a, b, all_cols, c) for c, (a, b) in enumerate(bounds))
        try:
            for _ in range(min(self.workers, len(self.queue))):
                self._start()
            while self.slots and self.error is None:
                self._step()
            if self.error is not None:
                raise self.error
            L = np.array(self.L)
        finally:
            self._close()
        if (L == PENDING).any():  # every unit ran to its end or was resumed
            raise LabelloopError("internal error: a worker left label-matrix cells unwritten")
        starts = [a for a, _ in bounds]
        per_chunk: list[list[LFFailure]] = [[] for _ in bounds]
        for f in self.failures:
            per_chunk[bisect_right(starts, f.item) - 1].append(f)
        return [(L[a:b], per_chunk[c]) for c, (a, b) in enumerate(bounds)]

    # -- workers -----------------------------------------------------------------------------

    def _start(self) -> None:
        parent, child = self.ctx.Pipe()
        fd, report = tempfile.mkstemp(prefix="labelloop-lf-failures-")
        os.close(fd)
        proc = self.ctx.Process(
            target=_worker, args=(self.task, self.shared, self.shape, child, report), daemon=True
        )
        proc.start()
        child.close()
        slot = _Slot(proc, parent, report)
        self.slots.append(slot)
        self._assign(slot)

    def _assign(self, slot: _Slot) -> None:
        slot.unit = self.queue.popleft() if self.queue else None
        if slot.unit is not None:
            slot.row, slot.cell, slot.since = slot.unit[0], -1, time.monotonic()
        with suppress(OSError):  # it died already: its sentinel says so next
            slot.conn.send(slot.unit)

    def _step(self) -> None:
        limit = self.task.timeout
        waits = [s.conn for s in self.slots] + [s.proc.sentinel for s in self.slots]
        ready = connection.wait(waits, timeout=None if limit is None else min(1.0, limit / 2))
        for slot in list(self.slots):
            if slot.conn in ready:
                self._read(slot)
            if slot.proc.sentinel in ready and self.error is None:
                self._bury(slot, "crashed", _death(slot.proc.exitcode))
        if limit is not None:
            self._stop_hung(limit)

    def _read(self, slot: _Slot, *, dead: bool = False) -> None:
        """Take every message waiting from ``slot``'s worker (``dead``: give it no more work)."""
        try:
            while slot.conn.poll():
                msg = slot.conn.recv()
                if msg is None and dead:
                    slot.unit = None
                elif msg is None:
                    self._assign(slot)
                elif isinstance(msg, BaseException):
                    self.error = msg
                    return
        except (EOFError, OSError):  # the worker is gone; its sentinel says so
            pass

    def _bury(self, slot: _Slot, kind: FailureKind, why: str) -> None:
        """A worker ended: record the cell it died on, queue the rest, start a fresh one."""
        self._read(slot, dead=True)
        slot.proc.join()
        self._release(slot)
        if slot.unit is not None and self.error is None:
            self._resume(slot.unit, kind, why)
        if self.queue and self.error is None:
            self._start()

    def _release(self, slot: _Slot) -> None:
        """Collect an ended worker's failure records and free what it held."""
        slot.conn.close()
        self.slots.remove(slot)
        self.failures.extend(_read_report(slot.report))
        os.unlink(slot.report)

    def _stop_hung(self, limit: float) -> None:
        """Kill a worker stuck on one cell past the hard limit (a hang SIGALRM cannot end)."""
        now = time.monotonic()
        for slot in list(self.slots):
            if slot.unit is None or not slot.proc.is_alive():
                continue
            a, b, cols, _ = slot.unit
            batch, single = self.task.split(cols)
            if not single or (self.L[a:b, batch] == PENDING).any():
                slot.since = now  # batch LFs have no per-item limit
                continue
            pending = self.L[slot.row : b, single] == PENDING
            rows = np.flatnonzero(pending.any(axis=1))
            if not rows.size:
                continue  # done; its message is on the way
            row = slot.row + int(rows[0])
            cell = row * len(single) + int(pending[rows[0]].sum())  # changes with every cell
            if cell != slot.cell:
                slot.row, slot.cell, slot.since = row, cell, now
            elif now - slot.since > 2 * limit + 2:
                slot.proc.kill()
                self._bury(slot, "timeout", f"no answer in {limit} s; its worker was stopped")

    # -- confinement -------------------------------------------------------------------------

    def _resume(self, unit: Unit, kind: FailureKind, why: str) -> None:
        """Record the cell ``unit`` stopped on and queue what is left of it."""
        a, b, cols, chunk = unit
        batch, single = self.task.split(cols)
        names, L = self.task.names, self.L
        for j in batch:
            if (L[a:b, j] == PENDING).any():
                self._fail(chunk, j, range(a, b), kind, why)
                rest = tuple(c for c in cols if c != j and (L[a:b, c] == PENDING).any())
                if rest:
                    self.queue.appendleft((a, b, rest, chunk))
                return
        pending = L[a:b, single] == PENDING
        rows = np.flatnonzero(pending.any(axis=1))
        if not rows.size:
            return  # it died after its last cell
        r = int(rows[0])
        i, j = a + r, single[int(np.flatnonzero(pending[r])[0])]
        if self._fail(chunk, j, range(i, i + 1), kind, why) and i + 1 < b:
            L[i + 1 : b, j] = ABSTAIN
            self.failures.append(
                LFFailure(
                    i + 1,
                    names[j],
                    "disabled",
                    f"disabled after {self.task.max_timeouts} timeouts on items {i + 1}..{b - 1}",
                )
            )
        # columns the worker disabled after timeouts hold ABSTAIN already below row i
        later = tuple(c for c in single if (L[i + 1 : b, c] == PENDING).any())
        if later:
            self.queue.appendleft((i + 1, b, later, chunk))
        row_rest = tuple(c for c in single if L[i, c] == PENDING)
        if row_rest:
            self.queue.appendleft((i, i + 1, row_rest, chunk))

    def _fail(self, chunk: int, j: int, items: range, kind: FailureKind, why: str) -> bool:
        """Record LF ``j`` failing on ``items``; True when it is now disabled for the chunk."""
        name = self.task.names[j]
        if not self.task.fault_tolerant:
            self.error = LabelloopError(
                f"labeling function {name!r} stopped its worker on item {items[0]}: {why}"
            )
            return False
        self.L[items.start : items.stop, j] = ABSTAIN
        self.failures.extend(LFFailure(i, name, kind, why) for i in items)
        if kind != "timeout":
            return False
        self.kills[chunk, j] = self.kills.get((chunk, j), 0) + 1
        return self.kills[chunk, j] >= self.task.max_timeouts

    def _close(self) -> None:
        for slot in list(self.slots):
            if slot.proc.is_alive():
                slot.proc.kill()
            slot.proc.join()
            self._release(slot)
        del self.L
        self.shared.close()
        if isinstance(self.shared, SharedMemory):
            self.shared.unlink()
