"""Engines for the embedded SQLite default and for PostgreSQL.

SQLite runs in WAL mode with ``synchronous=FULL`` and a busy timeout; write transactions
start with ``BEGIN IMMEDIATE`` so two writers never deadlock on a lock upgrade, read
transactions with a plain ``BEGIN`` that sees one consistent snapshot.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from labelloop._deps import require
from labelloop.errors import UserInputError

BUSY_TIMEOUT_MS = 30_000
WRITE_OPTION = "labelloop_write"


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
        return _sqlite_engine(url)
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        require("postgres", "psycopg", feature="PostgreSQL storage")
        return create_engine(parsed, pool_pre_ping=True, future=True)
    raise UserInputError(f"unsupported database {backend!r}; use SQLite or PostgreSQL")


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

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
