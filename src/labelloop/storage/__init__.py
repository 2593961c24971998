"""Storage: the Store over SQLite (embedded default) and PostgreSQL, with Alembic migrations."""

from labelloop.core.records import PendingAnnotation, Snapshot
from labelloop.storage.engine import make_engine, sqlite_url
from labelloop.storage.store import (
    Failure,
    ImportResult,
    ProjectInfo,
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
