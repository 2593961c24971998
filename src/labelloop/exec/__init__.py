"""Executors for the heavy steps: LF application, embeddings, pre-labeling, AL scoring.

One interface (:class:`Executor`, ``map_chunks``) with three implementations: ``local``
(this process), ``processes`` (a process pool) and ``dask`` (a ``LocalCluster`` or a running
scheduler at ``tcp://HOST:PORT``). :func:`make_executor` turns a name into one. Engines
define the chunk functions; services stream chunks from the store, write each finished
chunk back and record it, so an interrupted job resumes where it stopped.
"""

from labelloop.exec.base import (
    NAMES,
    Executor,
    ExecutorSpec,
    LocalExecutor,
    ProcessExecutor,
    check_spec,
    executor_for,
    make_executor,
    worker_cached,
)

__all__ = [
    "NAMES",
    "Executor",
    "ExecutorSpec",
    "LocalExecutor",
    "ProcessExecutor",
    "check_spec",
    "executor_for",
    "make_executor",
    "worker_cached",
]
