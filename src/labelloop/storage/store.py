"""The Store: every repository over one database URL, SQLite (default) or PostgreSQL.

:class:`Store` implements :class:`~labelloop.storage.protocol.StoreProtocol` by combining
the SQL repositories of this package (projects, items, annotations, exports, status,
accounts, members, queue, reviews, jobs, pages, loop rounds, LLM answers and runs,
the data browser, comments). Every
public method runs in its own transaction: writes in ``BEGIN IMMEDIATE`` on SQLite, reads in
one snapshot (``REPEATABLE READ`` on PostgreSQL).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from labelloop.storage.accounts import SqlAccounts
from labelloop.storage.annotations import SqlAnnotations
from labelloop.storage.browse import SqlBrowse
from labelloop.storage.comments import SqlComments
from labelloop.storage.exports import SqlExports
from labelloop.storage.items import SqlItems
from labelloop.storage.jobs import SqlJobs
from labelloop.storage.llm import SqlLLM
from labelloop.storage.loop_rounds import SqlLoopRounds
from labelloop.storage.members import SqlMembers
from labelloop.storage.pages import SqlPages
from labelloop.storage.progress import SqlProgress
from labelloop.storage.projects import SqlProjects
from labelloop.storage.queue import SqlClaims
from labelloop.storage.records import Failure, ImportResult, ProjectInfo
from labelloop.storage.reviews import SqlReviews
from labelloop.storage.status import SqlStatus

if TYPE_CHECKING:
    from labelloop.storage.protocol import StoreProtocol

__all__ = ["Failure", "ImportResult", "ProjectInfo", "Store"]


class Store(SqlProjects, SqlItems, SqlAnnotations, SqlExports, SqlStatus, SqlAccounts,
            SqlMembers, SqlClaims, SqlReviews, SqlJobs, SqlPages, SqlLoopRounds, SqlLLM,
            SqlBrowse, SqlProgress, SqlComments):
    """Storage of projects, items, sources, annotations, accounts and the queue.

    Parameters
    ----------
    url:
        ``sqlite:///path/labelloop.db`` or ``postgresql+psycopg://user@host/db``.
    migrate:
        Bring the schema to the newest Alembic revision on open (default).

    Examples
    --------
    >>> store = Store("sqlite:///labelloop.db")  # doctest: +SKIP
    >>> project = store.create_project("spam", schema)  # doctest: +SKIP
    """


if TYPE_CHECKING:  # mypy proves that Store satisfies the protocol
    def _conforms(store: Store) -> StoreProtocol:
        return store
