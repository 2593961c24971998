"""The claim queue table: per-item counts the claim query reads from one index.

Every helper here runs inside the caller's write transaction, so the ``claim_queue`` row of
an item changes in the same transaction as the annotations, claims and send-backs it sums
up. :func:`refresh` re-counts items from the source tables; on PostgreSQL it first locks
their queue rows (in item order, so two refreshes never deadlock) and counts in a later
statement, which in ``READ COMMITTED`` sees everything committed before the lock was held.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import islice
from typing import Any

import numpy as np
from sqlalchemy import bindparam, exists, func, select, text, update
from sqlalchemy.orm import Session

from labelloop.storage.base import BULK, chunks, insert, is_postgres
from labelloop.storage.models import AnnotationRow, AssignmentRow, SourceRow
from labelloop.storage.server_models import ClaimQueueProjectRow, ClaimQueueRow, ItemQueueRow

Q = ClaimQueueRow
COUNTED_KINDS = ("human", "gold")  # source kinds that change what the queue offers


def humans(item_id: Any) -> Any:
    """Number of human annotations of an item (a scalar subquery)."""
    return (
        select(func.count(AnnotationRow.id))
        .join(SourceRow, SourceRow.id == AnnotationRow.source_id)
        .where(AnnotationRow.item_id == item_id, SourceRow.kind == "human")
        .scalar_subquery()
    )


def open_claims(item_id: Any) -> Any:
    """Number of open claims on an item (a scalar subquery)."""
    return (
        select(func.count(AssignmentRow.id))
        .where(AssignmentRow.item_id == item_id, AssignmentRow.state == "claimed")
        .scalar_subquery()
    )


def extra_overlap(item_id: Any) -> Any:
    """Send-backs of an item (a scalar subquery, 0 when none)."""
    return func.coalesce(
        select(ItemQueueRow.extra_overlap).where(ItemQueueRow.item_id == item_id)
        .scalar_subquery(), 0)


def _is_gold(item_id: Any) -> Any:
    return exists().where(AnnotationRow.item_id == item_id, AnnotationRow.source_id == SourceRow.id,
                          SourceRow.kind == "gold")


def recorded_overlap(s: Session, project_id: int) -> int | None:
    """The overlap the project's ``has_room`` flags were computed with."""
    return s.scalar(select(ClaimQueueProjectRow.overlap)
                    .where(ClaimQueueProjectRow.project_id == project_id))


def _room(project_id: Any) -> Any:
    overlap = func.coalesce(
        select(ClaimQueueProjectRow.overlap)
        .where(ClaimQueueProjectRow.project_id == project_id).scalar_subquery(), 1)
    return Q.taken < overlap + Q.extra


def add_items(s: Session, project_id: int, item_ids: Sequence[int]) -> None:
    """Queue rows for newly imported items (nothing taken yet, no priority yet).

    The rows are written from the ids alone, never selected back from ``items`` on
    PostgreSQL: inside a large import's transaction the planner's statistics of ``items``
    are stale and a select by id range became a scan per batch. There the ids go as one
    array parameter (``INSERT ... SELECT FROM unnest``): psycopg's ``executemany`` sends one
    statement per row, which cost about 0.2 ms a row there. On SQLite (whose import gives a
    batch's items consecutive ids) one ``INSERT ... SELECT`` per run of consecutive ids
    reads them by rowid range. ``has_room`` is true whenever the project's overlap is at
    least one. Items already queued are left alone.
    """
    if not item_ids:
        return
    room = (recorded_overlap(s, project_id) or 1) > 0
    if is_postgres(s):
        s.execute(text(
            "INSERT INTO claim_queue (item_id, project_id, unranked, sort_key, gold, has_room,"
            " taken, extra) SELECT i, :pid, true, 0.0, false, :room, 0, 0"
            " FROM unnest(CAST(:ids AS integer[])) AS i ON CONFLICT DO NOTHING"),
            {"pid": project_id, "room": room, "ids": [int(i) for i in item_ids]})
        return
    for lo, hi in _runs(item_ids):
        s.execute(_ADD_RANGE, {"pid": project_id, "room": room, "lo": lo, "hi": hi})


_ADD_RANGE = text(
    "INSERT INTO claim_queue (item_id, project_id, has_room, unranked, sort_key, gold,"
    " taken, extra) SELECT id, :pid, :room, true, 0.0, false, 0, 0 FROM items"
    " WHERE id BETWEEN :lo AND :hi AND project_id = :pid ON CONFLICT DO NOTHING")


def _runs(item_ids: Sequence[int]) -> list[tuple[int, int]]:
    """The distinct ids as ``(first, last)`` runs of consecutive ids."""
    ids = np.unique(np.asarray(item_ids, dtype=np.int64))
    cuts = np.flatnonzero(np.diff(ids) != 1) + 1
    return [(int(run[0]), int(run[-1])) for run in np.split(ids, cuts)]


def _refresh_statements() -> tuple[Any, Any]:
    ids: Any = bindparam("ids", expanding=True)
    taken = humans(Q.item_id) + open_claims(Q.item_id)
    extra = extra_overlap(Q.item_id)
    overlap = func.coalesce(
        select(ClaimQueueProjectRow.overlap)
        .where(ClaimQueueProjectRow.project_id == Q.project_id).scalar_subquery(), 1)
    lock = select(Q.item_id).where(Q.item_id.in_(ids)).order_by(Q.item_id).with_for_update()
    recount = update(Q).where(Q.item_id.in_(ids)).values(
        taken=taken, extra=extra, gold=_is_gold(Q.item_id), has_room=taken < overlap + extra)
    return lock, recount


_LOCK, _RECOUNT = _refresh_statements()  # built once: refresh runs in every claim and submit


def refresh(s: Session, item_ids: Iterable[int]) -> None:
    """Re-count the queue rows of ``item_ids`` from annotations, claims and send-backs."""
    ids = sorted(set(item_ids))
    postgres = s.get_bind().dialect.name == "postgresql"
    for chunk in chunks(ids):
        if postgres:
            s.execute(_LOCK, {"ids": list(chunk)})
        s.execute(_RECOUNT, {"ids": list(chunk)})


def counted_sources(s: Session, source_ids: Iterable[int]) -> set[int]:
    """The human and gold sources among ``source_ids`` (their answers change the queue)."""
    counted: set[int] = set()
    for chunk in chunks(sorted(set(source_ids))):
        counted.update(s.scalars(select(SourceRow.id).where(
            SourceRow.id.in_(chunk), SourceRow.kind.in_(COUNTED_KINDS))))
    return counted


def rebase(s: Session, project_id: int, overlap: int) -> None:
    """Record ``overlap`` for the project and recompute every ``has_room`` flag with it."""
    s.execute(insert(s, ClaimQueueProjectRow).values(project_id=project_id, overlap=overlap)
              .on_conflict_do_update(index_elements=["project_id"], set_={"overlap": overlap}))
    s.execute(update(Q).where(Q.project_id == project_id)
              .values(has_room=Q.taken < overlap + Q.extra))


def set_rank(s: Session, project_id: int, priorities: dict[int, float]) -> None:
    """Move items in the queue order after their priority changed (batched executemany;
    of plain tuples on SQLite)."""
    if is_postgres(s):
        stmt = (update(Q)
                .where(Q.project_id == bindparam("b_project"), Q.item_id == bindparam("b_item"))
                .values(unranked=False, sort_key=bindparam("b_key")))
        rows = [{"b_project": project_id, "b_item": int(i), "b_key": -float(p)}
                for i, p in priorities.items()]
        for chunk in chunks(rows, BULK):
            s.connection().execute(stmt, list(chunk))
        return
    pairs = iter(priorities.items())  # a batch of tuples at a time: bounded memory
    while batch := [(-float(p), int(i), project_id) for i, p in islice(pairs, BULK)]:
        s.connection().exec_driver_sql(_RANK_SQL, batch)


_RANK_SQL = ("UPDATE claim_queue SET unranked = 0, sort_key = ? WHERE item_id = ?"
             " AND project_id = ?")


def set_hard(s: Session, project_id: int, item_ids: Iterable[int]) -> int:
    """Mark exactly ``item_ids`` of the project as routed to experts (``hard``), clearing
    the flag elsewhere; set-based (one clearing UPDATE, then batched UPDATEs by item id).
    Returns how many queue rows are hard now."""
    s.execute(update(Q).where(Q.project_id == project_id, Q.hard.is_(True))
              .values(hard=False))
    stmt = (update(Q).where(Q.project_id == bindparam("b_project"),
                            Q.item_id == bindparam("b_item")).values(hard=True))
    rows = [{"b_project": project_id, "b_item": int(i)} for i in sorted(set(item_ids))]
    n = 0
    for chunk in chunks(rows, BULK):
        n += s.connection().execute(stmt, list(chunk)).rowcount or 0
    return n


def set_rank_staged(s: Session, project_id: int, table: str) -> None:
    """PostgreSQL: :func:`set_rank` from a staging table ``(item_id, priority)``, one
    ``UPDATE ... FROM``."""
    s.execute(text(f"UPDATE claim_queue SET unranked = false, sort_key = -st.priority "
                   f"FROM {table} st WHERE claim_queue.item_id = st.item_id "
                   "AND claim_queue.project_id = :pid"), {"pid": project_id})
