"""The core loop of LF application: one chunk of items, every failure recorded.

Shared by every executor. Timeouts use a periodic ``SIGALRM`` that checks the LF call in
progress, so they interrupt Python code and blocking calls (not a C extension that never
returns to the interpreter) and need the main thread of the process running the chunk.
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
from labelloop.errors import ValidationError
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


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


@dataclass
class Task:
    """What to apply to which rows, and how to treat failures."""

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


def run_chunk(task: Task, start: int, stop: int) -> tuple[npt.NDArray[np.int64], list[LFFailure]]:
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
                LFFailure(start + i, task.names[j], "error", describe(exc))
                for i in range(len(rows))
            )
    single = sorted(set(range(m)) - set(batch))
    with _ticking(task.timeout):
        _run_rows(task, start, stop, single, out, failures)
    return out, failures


def _timed_out(task: Task, j: int, i: int, failures: list[LFFailure]) -> None:
    if not task.fault_tolerant:
        raise TimeoutError(f"labeling function {task.names[j]!r} timed out on item {i}") from None
    failures.append(LFFailure(i, task.names[j], "timeout", f"no answer in {task.timeout} s"))


def _run_rows(
    task: Task,
    start: int,
    stop: int,
    single: list[int],
    out: npt.NDArray[np.int64],
    failures: list[LFFailure],
) -> None:
    """The per-item loop over the LFs that take one item at a time."""
    rows = task.rows[start:stop]
    split = [isinstance(task.lfs[j], LabelingFunction) and bool(task.lfs[j].pre) for j in single]
    timeouts = [0] * len(task.lfs)
    alarm = task.timeout is not None
    now = time.monotonic
    for r, x in enumerate(rows):
        i = start + r
        prepared: dict[tuple[int, ...], Any] = {}
        for j, has_pre in zip(single, split, strict=True):
            lf = task.lfs[j]
            if timeouts[j] >= task.max_timeouts:
                continue
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
                _Watch.armed = False
            except LFTimeout:
                _timed_out(task, j, i, failures)
                timeouts[j] += 1
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
                _Watch.armed = False
                if not task.fault_tolerant:
                    raise
                failures.append(LFFailure(i, task.names[j], "error", describe(exc)))
                continue
            out[r, j] = _vote_or_fail(value, i, task.names[j], failures, task.fault_tolerant)
