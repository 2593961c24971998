"""Storage: the Store over SQLite (embedded default) and PostgreSQL, with Alembic migrations."""

from labelloop.storage.engine import make_engine, sqlite_url
from labelloop.storage.store import (
    Failure,
    ImportResult,
    PendingAnnotation,
    ProjectInfo,
    Snapshot,
    Store,
)

__all__ = [
    "Failure",
    "ImportResult",
    "PendingAnnotation",
    "ProjectInfo",
    "Snapshot",
    "Store",
    "make_engine",
    "sqlite_url",
]
