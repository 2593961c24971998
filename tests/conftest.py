"""Fixtures shared by every test: data paths and the database backends."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# the CLI's rich console wraps at the terminal's width (80 without one): wide enough that a
# temporary path (longer under pytest-xdist's per-worker folders) stays on one line
os.environ.setdefault("COLUMNS", "240")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The public datasets beside the repository (../shared/data)."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"shared datasets not found at {SHARED_DATA}")
    return SHARED_DATA


def postgres_base_url() -> str | None:
    """URL of the test PostgreSQL server, or None when none answers outside CI.

    In CI (``CI=true``) a missing server fails the tests that need it instead of skipping.
    """
    url = os.environ.get("LABELLOOP_TEST_POSTGRES_URL", DEFAULT_PG_URL)
    try:
        import psycopg

        with psycopg.connect(url.replace("+psycopg", ""), connect_timeout=3):
            return url
    except Exception as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL tests need a server at {url} (CI=true): {exc}")
        return None


@contextmanager
def _postgres_schema() -> Iterator[str]:
    """A fresh schema on the test PostgreSQL server, dropped afterwards (skipped when no
    server answers outside CI; in CI a missing server fails)."""
    base = postgres_base_url()
    if base is None:
        pytest.skip("no PostgreSQL server answers (set LABELLOOP_TEST_POSTGRES_URL)")
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    raw = base.replace("+psycopg", "")
    with psycopg.connect(raw, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(raw, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose tables live in a fresh schema dropped after the test."""
    with _postgres_schema() as url:
        yield url


@pytest.fixture(scope="module")
def module_postgres_url() -> Iterator[str]:
    """Like ``postgres_url``, one schema for a whole module (for costly shared data)."""
    with _postgres_schema() as url:
        yield url


def _analyze_own_tables(engine: Any) -> None:
    """Fresh planner statistics for this database's tables only: on PostgreSQL the tables
    of the test's schema by name (a bare ``ANALYZE`` would also record other tests' open,
    uncommitted imports as empty tables and mislead their plans); on SQLite ``ANALYZE``."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = conn.exec_driver_sql(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()").scalars()
            conn.exec_driver_sql("ANALYZE " + ", ".join(f'"{n}"' for n in names))
        else:
            conn.exec_driver_sql("ANALYZE")


@pytest.fixture(scope="session")
def analyze_own_tables() -> Any:
    """The function that gives an engine's own tables fresh planner statistics."""
    return _analyze_own_tables


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every Store backend: the embedded SQLite file and a real PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'labelloop.db'}"
    return str(request.getfixturevalue("postgres_url"))
