"""Engines for the embedded SQLite default and for PostgreSQL.

SQLite runs in WAL mode with ``synchronous=FULL`` and a busy timeout; write transactions
start with ``BEGIN IMMEDIATE`` so two writers never deadlock on a lock upgrade, read
transactions with a plain ``BEGIN`` that sees one consistent snapshot.

Connection pool: the server answers requests from a thread pool of 40 threads (anyio's
default) and each request holds at most one connection at a time, so the default pool
(``LABELLOOP_POOL_SIZE`` = 20 kept open plus as many on demand) never makes a request of
one process wait; 50 annotators fit with PostgreSQL's default of 100 connections.
A request that still finds no connection within ``LABELLOOP_POOL_TIMEOUT`` seconds
(default 10) fails with :class:`~labelloop.errors.UnavailableError` (503, Retry-After).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from labelloop._deps import require
from labelloop.errors import UserInputError

BUSY_TIMEOUT_MS = 30_000
WRITE_OPTION = "labelloop_write"
POOL_SIZE = 20
POOL_TIMEOUT_S = 10.0


def pool_options() -> dict[str, Any]:
    """Pool size, overflow and checkout timeout (``LABELLOOP_POOL_SIZE``,
    ``LABELLOOP_POOL_TIMEOUT``; ``labelloop serve --pool-size`` sets the first).

    Raises
    ------
    UserInputError
        If a setting is not a positive number.
    """
    try:
        size = int(os.environ.get("LABELLOOP_POOL_SIZE", POOL_SIZE))
        timeout = float(os.environ.get("LABELLOOP_POOL_TIMEOUT", POOL_TIMEOUT_S))
    except ValueError:
        raise UserInputError("LABELLOOP_POOL_SIZE and LABELLOOP_POOL_TIMEOUT must be numbers"
                             ) from None
    if size < 1 or timeout <= 0:
        raise UserInputError(f"the pool needs a size >= 1 and a timeout > 0, got {size} and "
                             f"{timeout}")
    return {"pool_size": size, "max_overflow": size, "pool_timeout": timeout}


def sqlite_url(folder: Path) -> str:
    """URL of the embedded database inside a project folder."""
    return f"sqlite:///{(folder / 'labelloop.db').resolve()}"


def make_engine(url: str) -> Engine:
    """Create an engine for ``url`` with labelloop's durability settings.

    Raises
    ------
    UserInputError
        If the URL names a database labelloop does not support.
    MissingDependencyError
        If the PostgreSQL driver is not installed.
    """
    try:
        parsed = make_url(url)
    except Exception:
        raise UserInputError(
            f"cannot parse database URL {url!r}; use sqlite:///path/labelloop.db "
            "or postgresql+psycopg://user@host:5432/dbname"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        in_memory = parsed.database in (None, "", ":memory:")
        return _sqlite_engine(url, {} if in_memory else pool_options())
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        require("postgres", "psycopg", feature="PostgreSQL storage")
        return create_engine(parsed, pool_pre_ping=True, future=True, **pool_options())
    raise UserInputError(f"unsupported database {backend!r}; use SQLite or PostgreSQL")


def _sqlite_engine(url: str, pool: dict[str, Any]) -> Engine:
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000}, **pool)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(WRITE_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")

    return engine
