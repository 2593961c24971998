"""Resumable chunked jobs over a project's items, on any :mod:`labelloop.exec` executor.

:func:`run_chunked_job` splits item ids into chunks, streams each chunk's payload from the
store to the executor (a bounded number in flight), writes each finished chunk back and
records it in the store's ``job_chunks`` with the chunk's per-item failures, in one
transaction. Running the same job again (same kind, fingerprint and items) after an
interruption skips the recorded chunks; a job that finishes forgets its chunks, so the next
run computes everything again.

A chunk's result is written by the caller's ``write`` with writes that replace (votes of a
source on the chunk's items), so a chunk computed twice -- a worker killed after it
finished, a crash between the write and the record -- is still stored once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from labelloop.errors import ValidationError
from labelloop.exec import Executor
from labelloop.services.project import Project
from labelloop.storage.store import Failure

Progress = Callable[[int, int], None]
"""Called with (chunks done, chunks in the job) after each chunk is stored."""

DEFAULT_CHUNK = 5_000


@dataclass
class JobReport:
    """What one run of a chunked job did."""

    n_chunks: int
    skipped: set[int] = field(default_factory=set)
    """Chunks stored by an earlier, interrupted run and not computed again."""
    bounds: list[tuple[int, int]] = field(default_factory=list)


def job_key(kind: str, fingerprint: Any, item_ids: Sequence[int], chunk_size: int) -> str:
    """What names a job: its kind, what it computes, its items and its chunking."""
    ids = np.asarray(item_ids, dtype=np.int64)
    digest = hashlib.sha1(ids.tobytes()).hexdigest()
    text = json.dumps([kind, fingerprint, chunk_size, digest], sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()


def run_chunked_job(
    project: Project,
    *,
    kind: str,
    fingerprint: Any,
    item_ids: Sequence[int],
    executor: Executor,
    fn: Callable[[Any], Any],
    read: Callable[[Sequence[int]], Any],
    write: Callable[[int, Sequence[int], Any], list[Failure]],
    chunk_size: int | None = None,
    progress: Progress | None = None,
) -> JobReport:
    """Run ``fn`` over chunks of ``item_ids`` on ``executor``, storing each chunk as it ends.

    Parameters
    ----------
    kind, fingerprint:
        Name the job (with the items and chunk size): a rerun with the same ones resumes.
    read:
        ``read(chunk_ids)``: the payload sent to ``fn`` (read from the store when the chunk
        is submitted, not before).
    write:
        ``write(start, chunk_ids, result)`` stores a finished chunk (``start``: the position
        of its first item in ``item_ids``) and returns its per-item failures, which are
        recorded with the chunk in one transaction.
    chunk_size:
        Items per chunk (default 5,000).
    progress:
        Called with (chunks done, chunks in all) after each stored chunk.
    """
    size = chunk_size or DEFAULT_CHUNK
    if size < 1:
        raise ValidationError(f"chunk_size must be >= 1, got {size}")
    n = len(item_ids)
    bounds = [(a, min(a + size, n)) for a in range(0, n, size)]
    store = project.store
    job_id, done = store.start_job(
        project.id, kind, job_key(kind, fingerprint, item_ids, size), len(bounds)
    )
    report = JobReport(len(bounds), set(done), bounds)

    def payloads() -> Iterator[tuple[int, Any]]:
        for c, (a, b) in enumerate(bounds):
            if c not in done:
                yield c, read(item_ids[a:b])

    finished = len(done)
    if progress is not None:
        progress(finished, len(bounds))
    for c, result in executor.map_chunks(fn, payloads()):
        a, b = bounds[c]
        failures = write(a, item_ids[a:b], result)
        store.finish_chunk(project.id, job_id, c, b - a, failures)
        finished += 1
        if progress is not None:
            progress(finished, len(bounds))
    store.finish_job(project.id, job_id)
    return report
