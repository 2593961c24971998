"""The core loop of LF application: one chunk of items, every failure recorded.

Shared by every executor. Timeouts use a periodic ``SIGALRM`` that checks the LF call in
progress, so they interrupt Python code and blocking calls (not a C extension that never
returns to the interpreter) and need the main thread of the process running the chunk.

Whatever an LF raises is confined to its (LF, item) cell -- ``SystemExit``,
``GeneratorExit``, its own ``KeyboardInterrupt`` included -- except a real Ctrl-C (a
``SIGINT`` delivered while the chunk runs), which stops the run. Every cell of ``out`` is
written (a vote or ``ABSTAIN``), in a fixed order: the batch LFs' columns, then row by
row; the process executor reads from the first unwritten cell where a dead worker was.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from labelloop.core.matrix import ABSTAIN
from labelloop.errors import LabelloopError, ValidationError
from labelloop.weak.lf import LabelingFunction

FailureKind = Literal["error", "invalid", "timeout", "disabled", "crashed"]


@dataclass(frozen=True)
class LFFailure:
    """One LF that failed on one item (``kind="disabled"``: on the rest of a chunk)."""

    item: int
    lf: str
    kind: FailureKind
    error: str


class LFTimeout(BaseException):
    """Raised inside an LF call by the alarm; BaseException so LFs' ``except Exception`` miss it."""


class _Watch:
    """The LF call in progress: a periodic SIGALRM checks it against the limit.

    Arming costs two attribute stores per call, where re-arming an interval timer would
    cost two system calls; a call is interrupted between ``limit`` and 1.25 ``limit``.
    """

    armed = False
    start = 0.0
    limit = 0.0


def on_alarm(signum: int, frame: Any) -> None:
    if _Watch.armed and time.monotonic() - _Watch.start > _Watch.limit:
        _Watch.armed = False
        raise LFTimeout


@contextmanager
def _ticking(limit: float | None) -> Iterator[None]:
    """Run the periodic alarm for the duration of a chunk (no-op without a limit)."""
    if limit is None:
        yield
        return
    _Watch.limit = limit
    tick = max(limit / 4, 0.001)
    signal.setitimer(signal.ITIMER_REAL, tick, tick)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        _Watch.armed = False


class Interrupt:
    """Set by the SIGINT handler: a ``KeyboardInterrupt`` then comes from the user."""

    requested = False
    previous: Any = None


def on_sigint(signum: int, frame: Any) -> None:
    """Mark what the previous handler raises (``KeyboardInterrupt``) as the user's."""
    Interrupt.requested = True
    Interrupt.previous(signum, frame)
    Interrupt.requested = False  # it chose not to interrupt


def _is_user_interrupt(exc: BaseException) -> bool:
    return isinstance(exc, KeyboardInterrupt) and Interrupt.requested


def _safe_str(obj: Any, conv: Any = str) -> str:
    try:
        return str(conv(obj))
    except BaseException:
        return f"<unprintable {type(obj).__name__}>"


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {_safe_str(exc)}"[:500]


@dataclass
class Task:
    """What to apply to which rows, and how to treat failures."""

    lfs: list[Any]
    names: list[str]
    rows: Sequence[Any]
    fault_tolerant: bool
    timeout: float | None
    max_timeouts: int
    k: int | None = None

    def split(self, cols: Sequence[int]) -> tuple[list[int], list[int]]:
        """``cols`` as (batch LFs, one-item-at-a-time LFs), each in column order."""
        batch = [j for j in cols if hasattr(self.lfs[j], "apply_batch")]
        return batch, [j for j in cols if not hasattr(self.lfs[j], "apply_batch")]


_INT64_MAX = int(np.iinfo(np.int64).max)


def _invalid(value: Any, k: int | None) -> str:
    classes = f"a class index in 0..{k - 1}" if k is not None else "a class index >= 0"
    return f"returned {_safe_str(value, repr)[:200]}; an LF returns {classes} or -1 (ABSTAIN)"


def _vote_or_fail(value: Any, i: int, name: str, failures: Any, task: Task) -> int:
    upper = _INT64_MAX if task.k is None else task.k
    if (
        isinstance(value, (int, np.integer))
        and not isinstance(value, bool)
        and ABSTAIN <= value < upper
    ):
        return int(value)
    message = _invalid(value, task.k)
    if not task.fault_tolerant:
        raise ValidationError(f"labeling function {name!r} {message}")
    failures.append(LFFailure(i, name, "invalid", message))
    return ABSTAIN


def _lf_raised(task: Task, j: int, i: int, exc: BaseException) -> LFFailure:
    """The record of an LF that raised ``exc`` on item ``i`` (or the error to stop with)."""
    if _is_user_interrupt(exc):
        raise exc
    if not task.fault_tolerant:
        if isinstance(exc, Exception):
            raise exc
        raise LabelloopError(
            f"labeling function {task.names[j]!r} raised {describe(exc)} on item {i}"
        ) from exc
    return LFFailure(i, task.names[j], "error", describe(exc))


def _batch_votes(task: Task, j: int, start: int, rows: Sequence[Any], failures: Any) -> Any:
    """Votes of the batch LF ``j`` on ``rows``; bad ones become ``invalid`` failures, and an
    exception in place of a vote (an LLM LF's answer that was not yes/no) that item's
    ``error``."""
    out = task.lfs[j].apply_batch(rows)
    values: npt.NDArray[Any]
    if not isinstance(out, np.ndarray) and any(isinstance(v, BaseException) for v in out):
        values = np.empty(len(out), dtype=object)
        values[:] = list(out)
    else:
        values = np.asarray(out)
    if values.shape != (len(rows),):
        raise ValidationError(
            f"apply_batch returned shape {values.shape}, expected ({len(rows)},)"
        )
    ok: npt.NDArray[np.bool_] = np.zeros(len(rows), dtype=bool)
    if values.dtype.kind in "iu":
        upper = _INT64_MAX if task.k is None else task.k
        ok = (values >= ABSTAIN) & (values < upper)
        if ok.all():
            return values
    clean = np.full(len(rows), ABSTAIN, dtype=np.int64)
    clean[ok] = values[ok]
    bad = np.flatnonzero(~ok)
    for r, value in zip(bad.tolist(), values[bad].tolist(), strict=True):
        if isinstance(value, BaseException):  # a batch LF's error on one item
            failures.append(_lf_raised(task, j, start + r, value))
        else:  # a vote in an object array is kept; anything else is recorded
            clean[r] = _vote_or_fail(value, start + r, task.names[j], failures, task)
    return clean


def run_chunk(
    task: Task,
    start: int,
    stop: int,
    *,
    out: npt.NDArray[np.int64] | None = None,
    failures: Any = None,
    cols: Sequence[int] | None = None,
) -> tuple[npt.NDArray[np.int64], Any]:
    """Apply the LFs ``cols`` (default: all) to rows ``start:stop``; every executor's core.

    Writes into ``out`` (rows ``start:stop``; default: a new array) and appends failures
    to ``failures`` (anything with ``append``/``extend``; default: a new list).
    """
    if out is None:
        out = np.full((stop - start, len(task.lfs)), ABSTAIN, dtype=np.int64)
    if failures is None:
        failures = []
    rows = task.rows[start:stop]
    batch, single = task.split(range(len(task.lfs)) if cols is None else cols)
    for j in batch:
        try:
            votes = _batch_votes(task, j, start, rows, failures)
        except BaseException as exc:
            record = _lf_raised(task, j, start, exc)
            votes = ABSTAIN
            failures.extend(
                LFFailure(start + r, record.lf, record.kind, record.error)
                for r in range(len(rows))
            )
        out[:, j] = votes
    with _ticking(task.timeout):
        _run_rows(task, start, stop, single, out, failures)
    return out, failures


def _timed_out(task: Task, j: int, i: int, failures: Any) -> None:
    if not task.fault_tolerant:
        raise TimeoutError(f"labeling function {task.names[j]!r} timed out on item {i}") from None
    failures.append(LFFailure(i, task.names[j], "timeout", f"no answer in {task.timeout} s"))


def _run_rows(
    task: Task,
    start: int,
    stop: int,
    single: list[int],
    out: npt.NDArray[np.int64],
    failures: Any,
) -> None:
    """The per-item loop over the LFs that take one item at a time."""
    rows = task.rows[start:stop]
    split = [isinstance(task.lfs[j], LabelingFunction) and bool(task.lfs[j].pre) for j in single]
    timeouts = [0] * len(task.lfs)
    alarm = task.timeout is not None
    now = time.monotonic
    upper = _INT64_MAX if task.k is None else task.k
    for r, x in enumerate(rows):
        i = start + r
        prepared: dict[tuple[int, ...], Any] = {}
        for j, has_pre in zip(single, split, strict=True):
            lf = task.lfs[j]
            if timeouts[j] >= task.max_timeouts:
                continue
            try:
                try:
                    if alarm:
                        _Watch.start = now()
                        _Watch.armed = True
                    if has_pre:
                        key = tuple(id(p) for p in lf.pre)
                        if key not in prepared:
                            prepared[key] = lf.prepare(x)
                        value = lf.label(prepared[key])
                    else:
                        value = lf(x)
                finally:
                    _Watch.armed = False
            except LFTimeout:
                out[r, j] = ABSTAIN
                _timed_out(task, j, i, failures)
                timeouts[j] += 1
                if timeouts[j] == task.max_timeouts and r + 1 < len(rows):
                    out[r + 1 :, j] = ABSTAIN
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
            except BaseException as exc:
                out[r, j] = ABSTAIN
                failures.append(_lf_raised(task, j, i, exc))
                continue
            if type(value) is int and ABSTAIN <= value < upper:  # the common case, inline
                out[r, j] = value
            else:
                out[r, j] = _vote_or_fail(value, i, task.names[j], failures, task)
