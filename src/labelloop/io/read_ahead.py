"""Read a file in a second process while this one stores what it read.

An import spends about as much time parsing and validating rows (pure Python) as its
database spends storing them; :func:`read_ahead` runs the reader in a forked child, which
sends each batch through a pipe as soon as it is ready, so the two overlap on two cores.
The pipe holds about one batch: the child parses the next batch while the parent stores
the last, and waits when it is that far ahead (memory stays bounded by a few batches).

An exception the reader raises (a validation report at the end of the file) is raised
again in the parent, in order after the batches read before it. Where ``fork`` is not
available, or other threads run (a server), the reader runs in this process, as it would
without :func:`read_ahead`.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import threading
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import Any, TypeVar

T = TypeVar("T")

_ITEM, _END, _ERROR = "item", "end", "error"


def can_read_ahead() -> bool:
    """Whether :func:`read_ahead` runs readers in a second process here: it needs ``fork``
    and a process with one thread (a fork copies no other thread, so a lock another thread
    held, e.g. a server's, would stay held in the child)."""
    return "fork" in mp.get_all_start_methods() and threading.active_count() == 1


def read_ahead(reader: Callable[[], Iterator[T]]) -> Iterator[T]:
    """The items of ``reader()``, produced in a forked child process one item ahead.

    The child starts when the first item is asked for and is stopped when the iterator
    is closed or dropped before the end. ``reader`` is called in the child, so what it
    opens (the file) is opened there; its items and its exception must pickle.

    Raises
    ------
    Exception
        What ``reader`` raised, after the items it yielded before.
    RuntimeError
        If the child process died without a word (killed, out of memory).
    """
    if not can_read_ahead():
        yield from reader()
        return
    ctx = mp.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(
        target=_produce, args=(reader, send), daemon=True, name="labelloop-read-ahead"
    )
    proc.start()
    send.close()  # the child's end: EOF here once the child is gone
    try:
        while True:
            try:
                kind, value = receive.recv()
            except EOFError:
                proc.join()
                raise RuntimeError(
                    "the process reading the file stopped unexpectedly "
                    f"(exit code {proc.exitcode}); nothing was imported"
                ) from None
            if kind == _END:
                return
            if kind == _ERROR:
                raise value
            yield value
    finally:
        receive.close()
        if proc.is_alive():
            proc.terminate()
        proc.join()


def _produce(reader: Callable[[], Iterator[Any]], send: Connection) -> None:
    """The child: send every item of ``reader()``, then the end or the exception, and
    leave at once: the exit handlers and finalizers it inherited belong to the parent
    (database pools, a cluster's resources), and running them here crashed children of
    test processes after their work was done."""
    try:
        _send_all(reader, send)
    finally:
        os._exit(0)


def _send_all(reader: Callable[[], Iterator[Any]], send: Connection) -> None:
    try:
        for item in reader():
            send.send((_ITEM, item))
        send.send((_END, None))
    except BrokenPipeError:  # the parent stopped reading
        return
    except BaseException as exc:  # any failure goes to the parent
        send.send((_ERROR, _portable(exc)))
    finally:
        send.close()


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else a RuntimeError with its type and message."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # anything unpicklable is described instead
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc
