"""Storage: the Store over SQLite (embedded default) and PostgreSQL, with Alembic migrations.

Only this package speaks SQL. :class:`Store` is the SQL implementation of
:class:`StoreProtocol`, itself composed of one protocol per repository (see
:mod:`labelloop.storage.protocol`); services are its only callers.
"""

from labelloop.core.records import PendingAnnotation, Snapshot
from labelloop.storage.engine import make_engine, sqlite_url
from labelloop.storage.pages import ItemFlags
from labelloop.storage.protocol import StoreProtocol
from labelloop.storage.records import (
    Claim,
    Failure,
    ImportResult,
    ProjectInfo,
    SourceCount,
    StoreStatus,
    TokenInfo,
    Vote,
    VoteColumns,
)
from labelloop.storage.store import Store

__all__ = [
    "Claim",
    "Failure",
    "ImportResult",
    "ItemFlags",
    "PendingAnnotation",
    "ProjectInfo",
    "Snapshot",
    "SourceCount",
    "Store",
    "StoreProtocol",
    "StoreStatus",
    "TokenInfo",
    "Vote",
    "VoteColumns",
    "make_engine",
    "sqlite_url",
]
