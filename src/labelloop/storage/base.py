"""Plumbing shared by every SQL repository: engines, transactions, dialect-aware inserts.

Every public repository method runs in its own transaction: writes in ``BEGIN IMMEDIATE``
on SQLite, reads in one snapshot (``REPEATABLE READ`` on PostgreSQL).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from importlib import resources
from itertools import chain
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, any_, bindparam, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from labelloop.errors import UnavailableError
from labelloop.storage.engine import BUSY_TIMEOUT_MS, WRITE_OPTION, make_engine
from labelloop.storage.models import utcnow

CHUNK = 500
BULK = 5000  # rows per executemany / COPY batch of the set-based writes
T = TypeVar("T")
# PostgreSQL states that mean "not now" rather than "wrong": connection lost, server
# shutting down or starting, too many connections, deadlock, serialization failure.
_TRANSIENT_STATES = ("08", "57P01", "57P02", "57P03", "53300", "40P01", "40001")


def _transient(exc: sa_exc.OperationalError) -> bool:
    """Whether a database error will likely pass when the request is repeated."""
    orig = exc.orig
    name = getattr(orig, "sqlite_errorname", None)
    if name is not None:
        return str(name).startswith(("SQLITE_BUSY", "SQLITE_LOCKED"))
    state = getattr(orig, "sqlstate", None)
    return exc.connection_invalidated or state is None or str(state).startswith(
        _TRANSIENT_STATES)


@contextmanager
def unavailable_on_overload() -> Iterator[None]:
    """Turn "no connection in time" and transient database errors into UnavailableError.

    Raises
    ------
    UnavailableError
        503 with Retry-After: the transaction was rolled back and may be repeated.
    """
    try:
        yield
    except sa_exc.TimeoutError as exc:
        raise UnavailableError("every database connection is busy; retry in a moment") from exc
    except sa_exc.OperationalError as exc:
        if not _transient(exc):
            raise
        raise UnavailableError("the database is busy or restarting; retry in a moment"
                               ) from exc


def chunks(seq: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most ``size`` (keeps ``IN (...)`` lists short)."""
    for start in range(0, len(seq), size):
        yield seq[start : start + size]


def insert(s: Session, table: Any) -> Any:
    """An ``INSERT`` with the dialect's ``ON CONFLICT`` support."""
    dialect = s.get_bind().dialect.name
    return (postgresql if dialect == "postgresql" else sqlite).insert(table)


def is_postgres(s: Session) -> bool:
    """Whether the session speaks to PostgreSQL (else SQLite)."""
    return bool(s.get_bind().dialect.name == "postgresql")


def among(s: Session, column: Any, values: Sequence[Any], item_type: Any) -> Any:
    """``column IN values``; on PostgreSQL ``column = ANY(:array)``, one parameter however
    many values (a long ``IN`` list costs the driver more than the query)."""
    if is_postgres(s):
        return column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(item_type)))
    return column.in_(list(values))


def stage_rows(s: Session, table: str, columns: str, names: Sequence[str],
               rows: Iterable[Sequence[Any]]) -> None:
    """PostgreSQL: ``COPY`` ``rows`` into the temporary table ``table`` (created empty).

    The table lives until the transaction ends (``ON COMMIT DROP``); a set-based
    ``INSERT ... SELECT`` or ``UPDATE ... FROM`` then applies it in one statement.
    ``columns`` is the column list with types, ``names`` the names in row order.
    """
    cur = s.connection().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cur.execute(f"DROP TABLE IF EXISTS pg_temp.{table}")  # never a table of the schema
        cur.execute(f"CREATE TEMPORARY TABLE {table} ({columns}) ON COMMIT DROP")
        with cur.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    finally:
        cur.close()


def fetch_numbers(s: Session, stmt: Any, width: int, dtype: Any, *, rows: int = 100_000
                  ) -> npt.NDArray[Any]:
    """The rows of ``stmt`` (``width`` numeric columns, never NULL) as an ``(n, width)``
    array of ``dtype``, fetched ``rows`` at a time inside the caller's transaction.

    On SQLite the statement runs on the driver's own cursor, so no SQLAlchemy row is
    built per result row (about a quarter of the CPU at a million rows); on PostgreSQL it
    runs as a streamed SQLAlchemy result.
    """
    conn = s.connection()
    blocks: Iterable[Sequence[Any]]
    cur: Any = None
    if conn.dialect.name == "sqlite":
        compiled = stmt.compile(dialect=conn.dialect,
                                compile_kwargs={"render_postcompile": True})
        params = [compiled.params[k] for k in compiled.positiontup or ()]
        cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cur.execute(str(compiled), params)
        blocks = iter(lambda: cur.fetchmany(rows), [])
    else:
        blocks = conn.execute(stmt.execution_options(yield_per=rows)).partitions()
    try:
        parts = [np.empty((0, width), dtype=dtype)]
        parts += [np.fromiter(chain.from_iterable(block), dtype=dtype,
                              count=width * len(block)).reshape(-1, width)
                  for block in blocks]
    finally:
        if cur is not None:
            cur.close()
    return np.concatenate(parts)


@contextmanager
def rebuilt_indexes(s: Session, names: Sequence[str]) -> Iterator[None]:
    """SQLite: drop the indexes ``names`` for the block, then create them again as they
    were, inside the caller's transaction.

    A bulk update of an indexed column moves every row's index entries one by one, at a
    random place each; building the index again from the table sorts it once, about
    twice as fast at 100k rows and more past that. If the block raises, the caller's
    transaction must roll back (which restores the indexes).
    """
    found = s.execute(
        text("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND name IN :names")
        .bindparams(bindparam("names", expanding=True)),
        {"names": list(names)},
    ).all()
    for name, _ in found:
        s.execute(text(f'DROP INDEX "{name}"'))
    yield
    for _, sql in found:
        s.execute(text(sql))


ANALYZE_NEW_TABLES = 1000
"""Rows a transaction must have written before it analyzes tables never analyzed."""


def refresh_stale_statistics(s: Session, tables: Sequence[str], rows: int, *,
                             unanalyzed: bool = False) -> bool:
    """PostgreSQL: ``ANALYZE`` ``tables`` inside the caller's (long, writing) transaction
    if the planner believes the first of them holds fewer than half of ``rows``, the rows
    the caller knows it holds. Returns whether it did.

    An ``ANALYZE`` that ran while a large import was open (autovacuum, or anyone's
    database-wide ``ANALYZE``) cannot see the import's rows and records the tables as
    empty. The planner then costs every index of ``items`` alike and may look an id up by
    walking the whole ``(project_id, id)`` index: each foreign-key check of the import's
    claim-queue rows became a full index scan (over a minute per batch at 900k items).
    An ``ANALYZE`` in the writing transaction counts its own rows, which sets this right;
    it also holds off other ``ANALYZE``/``VACUUM`` runs of these tables until the commit,
    so it runs only when the statistics are wrong.

    With ``unanalyzed`` (at the end of an import) tables never analyzed count as wrong
    too once ``rows`` reaches :data:`ANALYZE_NEW_TABLES`: without statistics the planner
    guessed a project's items at a few hundred and filtered 100k items by their computed
    text vector instead of reading the search index (1 s instead of 18 ms), and where
    autovacuum is off nothing else would ever analyze them.
    """
    if not is_postgres(s):
        return False
    believed = s.scalar(text("SELECT reltuples FROM pg_class WHERE oid = CAST(:t AS regclass)"),
                        {"t": tables[0]})
    if believed is None:
        return False
    if believed < 0:  # never analyzed
        if not (unanalyzed and rows >= ANALYZE_NEW_TABLES):
            return False
    elif believed >= rows / 2:
        return False
    s.execute(text("ANALYZE " + ", ".join(tables)))
    return True


def aware(ts: datetime) -> datetime:
    """A timestamp with its zone (SQLite drops it; stored times are UTC)."""
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=utcnow().tzinfo)


class SqlBase:
    """Engines and transactions over one database URL; the repositories build on it.

    Parameters
    ----------
    url:
        ``sqlite:///path/labelloop.db`` or ``postgresql+psycopg://user@host/db``.
    migrate:
        Bring the schema to the newest Alembic revision on open (default).
    """

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        # bumped by every change of a project's settings, access or members made through
        # this object: the server's project cache is current while it stays the same
        self.config_version = 0
        # project id -> (config_version, overlap) the claim queue was last found rebased to
        self.checked_overlap: dict[int, tuple[int, int]] = {}
        self.dialect = self.engine.dialect.name
        self._write_engine = self.engine.execution_options(**{WRITE_OPTION: True})
        # SQLite takes one writer at a time; its busy handler polls with growing sleeps, so
        # threads of one process queue on a lock instead (a waiting writer starts the
        # moment the previous one commits, and tail latency stays short).
        self._write_lock = threading.RLock() if self.dialect == "sqlite" else None
        self._read_engine: Engine
        if self.dialect == "postgresql":
            self._read_engine = self.engine.execution_options(isolation_level="REPEATABLE READ")
        else:
            self._read_engine = self.engine
        if migrate:
            self.migrate()

    def migrate(self, revision: str = "head") -> None:
        """Upgrade the database schema to ``revision``, by default the newest (idempotent)."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option(
            "script_location", str(resources.files("labelloop.storage") / "migrations")
        )
        with self._write_engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)

    @contextmanager
    def _config_write(self) -> Iterator[Session]:
        """A write transaction that changes a project's settings, access or members: the
        version moves on once it ended (so a cache filled meanwhile is dropped too)."""
        try:
            with self.write() as s:
                yield s
        finally:
            self.config_version += 1

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite); commits on success."""
        with unavailable_on_overload(), self._writer(), Session(
                self._write_engine, expire_on_commit=False) as s, s.begin():
            yield s

    @contextmanager
    def _writer(self) -> Iterator[None]:
        """This process's turn to write (SQLite); UnavailableError after the busy timeout."""
        if self._write_lock is None:
            yield
            return
        if not self._write_lock.acquire(timeout=BUSY_TIMEOUT_MS / 1000):
            raise UnavailableError("the database is busy with other writes; retry in a moment")
        try:
            yield
        finally:
            self._write_lock.release()

    @contextmanager
    def snapshot(self) -> Iterator[Session]:
        """A read transaction that sees one consistent snapshot of the database."""
        with unavailable_on_overload(), Session(self._read_engine, expire_on_commit=False
                                                ) as s, s.begin():
            yield s
