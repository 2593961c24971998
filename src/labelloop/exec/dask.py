"""Chunks on a Dask cluster: a ``LocalCluster`` started here, or a running scheduler.

Dask (``dask.distributed``) does the scheduling, the retries and the worker restarts: a
worker that dies while running a chunk has that chunk run again on another worker (Dask's
``distributed.scheduler.allowed-failures`` times, then
:class:`~labelloop.errors.LabelloopError`). Chunk functions are small descriptions (LFs, a
model's name) sent with each chunk, so no worker holds state a restart could lose; the
models they load through :func:`~labelloop.exec.worker_cached` are loaded once per worker
process.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from labelloop._deps import require
from labelloop.errors import LabelloopError, ValidationError
from labelloop.exec.base import _call, _Closing

R = TypeVar("R")


class DaskExecutor(_Closing):
    """Runs chunks as Dask futures; results come back through ``as_completed``.

    Parameters
    ----------
    address:
        A scheduler address (``"tcp://HOST:PORT"``) to connect to; None starts a
        ``LocalCluster`` of ``n_workers`` worker processes with one thread each (closed by
        :meth:`close`).
    n_workers:
        Workers of the local cluster (default: the number of CPUs).
    processes:
        Local cluster only: workers in separate processes (default) or threads of this one.
    client:
        A ``distributed.Client`` to use as it is (not closed by :meth:`close`).
    timeout:
        Seconds to wait for the scheduler at ``address``.
    """

    name = "dask"

    def __init__(
        self,
        address: str | None = None,
        *,
        n_workers: int | None = None,
        processes: bool = True,
        client: Any = None,
        timeout: float = 10.0,
    ) -> None:
        distributed = require("dask", "distributed", feature="the dask executor")
        if n_workers is not None and n_workers < 1:
            raise ValidationError(f"n_workers must be >= 1, got {n_workers}")
        self._cluster: Any = None
        self._own = client is None
        if client is not None:
            self.client = client
        elif address is not None:
            try:
                self.client = distributed.Client(address, timeout=f"{timeout}s")
            except OSError as exc:
                raise ValidationError(
                    f"no Dask scheduler answers at {address}: {exc}"
                ) from exc
        else:
            self._cluster = distributed.LocalCluster(
                n_workers=n_workers or os.cpu_count() or 1,
                threads_per_worker=1,
                processes=processes,
                dashboard_address=None,
            )
            self.client = distributed.Client(self._cluster)
        self._distributed = distributed

    @property
    def n_workers(self) -> int:
        """Workers the scheduler knows now (at least 1)."""
        return max(1, len(self.client.scheduler_info(n_workers=-1).get("workers", {})))

    def worker_pids(self) -> dict[str, int]:
        """Process id of every worker, by address (for monitoring and tests)."""
        return dict(self.client.run(os.getpid))

    def map_chunks(
        self,
        fn: Callable[[Any], R],
        payloads: Iterable[tuple[int, Any]],
        *,
        window: int | None = None,
    ) -> Iterator[tuple[int, R]]:
        """Submit chunks as futures, at most ``window`` at a time; yield them as they finish."""
        limit = window or 2 * self.n_workers
        pending = self._distributed.as_completed()
        index_of: dict[str, int] = {}
        source = iter(payloads)
        running = 0

        def submit_more() -> None:
            nonlocal running
            for index, payload in source:
                fut = self.client.submit(_call, fn, payload, pure=False)
                index_of[fut.key] = index
                pending.add(fut)
                running += 1
                if running >= limit:
                    return

        try:
            submit_more()
            for fut in pending:
                index = index_of.pop(fut.key)
                running -= 1
                try:
                    result = fut.result()
                except self._distributed.KilledWorker as exc:
                    raise LabelloopError(
                        f"chunk {index} killed {exc.args[1] if len(exc.args) > 1 else 'workers'}"
                        " each time it ran; finished chunks are kept"
                    ) from exc
                fut.release()
                yield index, result
                submit_more()
        finally:
            for fut in pending.futures:
                fut.cancel()

    def close(self) -> None:
        """Close the client and the local cluster this executor started."""
        if self._own:
            self.client.close()
            if self._cluster is not None:
                self._cluster.close()
