"""Group commit on SQLite: answers that arrive while another commit is under way are
written together in the next transaction, with one ``fsync``.

SQLite takes one writer at a time and, with ``synchronous=FULL``, every commit waits for
the disk (about 4-10 ms on a virtual disk): one answer per commit caps a server at about
100-250 answers a second whatever its CPU. Here each writer queues its work; whoever gets
the write lock next runs every queued piece of work in one transaction, each in its own
``SAVEPOINT`` (a piece that raises is rolled back alone and its caller gets the error),
commits once, and every caller returns after that commit: an acknowledged answer is
still durable.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar
from weakref import WeakKeyDictionary

from sqlalchemy import Connection

from labelloop.errors import UnavailableError
from labelloop.storage.base import unavailable_on_overload
from labelloop.storage.engine import BUSY_TIMEOUT_MS

if TYPE_CHECKING:
    from labelloop.storage.base import SqlBase

T = TypeVar("T")


class _Ticket(Generic[T]):
    """One caller's piece of work and, once committed, its outcome."""

    def __init__(self, job: Callable[[Connection], T]) -> None:
        self.job = job
        self.result: T | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()


class GroupCommit:
    """The queue of one store's SQLite writes that may share a commit.

    Parameters
    ----------
    base:
        The store (SQLite): its write lock and write engine are used.
    """

    def __init__(self, base: SqlBase) -> None:
        self._base = base
        self._pending: list[_Ticket[object]] = []
        self._lock = threading.Lock()

    def run(self, job: Callable[[Connection], T]) -> T:
        """Run ``job`` in a write transaction, possibly shared with other callers';
        return its result after the commit (or raise its error).

        Raises
        ------
        UnavailableError
            If the write lock stays busy past the busy timeout, or the shared commit
            failed (then nothing of the job is stored).
        """
        ticket: _Ticket[T] = _Ticket(job)
        with self._lock:
            self._pending.append(ticket)  # type: ignore[arg-type]
        lock = self._base._write_lock
        assert lock is not None, "group commit is for SQLite"
        if not lock.acquire(timeout=BUSY_TIMEOUT_MS / 1000):
            with self._lock:
                mine = ticket in self._pending
                if mine:
                    self._pending.remove(ticket)  # type: ignore[arg-type]
            if mine:
                raise UnavailableError("the database is busy with other writes; retry in a "
                                       "moment")
            ticket.done.wait()  # a commit under way took it
        else:
            try:
                if not ticket.done.is_set():
                    with self._lock:
                        batch, self._pending = self._pending, []
                    self._commit(batch)
            finally:
                lock.release()
        if ticket.error is not None:
            with unavailable_on_overload():
                raise ticket.error
        return ticket.result  # type: ignore[return-value]

    def _commit(self, batch: list[_Ticket[object]]) -> None:
        alone = len(batch) == 1  # its own transaction: no savepoint needed
        ran = False
        try:
            with unavailable_on_overload(), self._base._write_engine.begin() as conn:
                if alone:
                    batch[0].result = batch[0].job(conn)
                    ran = True
                for t in batch if not alone else ():
                    try:
                        with conn.begin_nested():
                            t.result = t.job(conn)
                    except Exception as exc:  # the caller gets it; the others go on
                        t.error = exc
        except BaseException as exc:
            if alone and not ran:  # the work itself failed (or could not start)
                batch[0].error = exc
            else:  # the commit failed: nothing of the batch is stored
                for t in batch:
                    if t.error is None:
                        t.result = None
                        t.error = UnavailableError(
                            f"the answer could not be stored ({type(exc).__name__}); retry")
            if not isinstance(exc, Exception):
                raise
        finally:
            for t in batch:
                t.done.set()


_QUEUES: WeakKeyDictionary[SqlBase, GroupCommit] = WeakKeyDictionary()
_QUEUES_LOCK = threading.Lock()


def group_commit(base: SqlBase) -> GroupCommit:
    """The group-commit queue of a SQLite store (one per store)."""
    with _QUEUES_LOCK:
        found = _QUEUES.get(base)
        if found is None:
            found = _QUEUES[base] = GroupCommit(base)
        return found
