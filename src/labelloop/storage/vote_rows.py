"""Writing vote rows inside a caller's transaction: upserts (plain tuples on SQLite, COPY
on PostgreSQL), deletes by item id range, the rows of annotation records."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Integer, bindparam, delete, text
from sqlalchemy.orm import Session

from labelloop.core.records import AnnotationRecord, encode_json
from labelloop.storage import claim_queue as cq
from labelloop.storage.base import BULK, CHUNK, among, chunks, insert, is_postgres, stage_rows
from labelloop.storage.models import AnnotationRow, utcnow

_RUN = 64
"""Runs of at least this many consecutive item ids are deleted from by id range."""
_UPSERTED = ("label", "value", "confidence", "needs_review", "seconds", "created_at")


def upsert_annotation_rows(s: Session, rows: list[dict[str, Any]]) -> None:
    """Insert annotation rows; a source's earlier row for the same item is replaced.

    Set-based: on SQLite batches of ``executemany`` of plain tuples (:func:`upsert_sqlite`);
    on PostgreSQL many rows go through ``COPY`` into a staging table and one
    ``INSERT ... ON CONFLICT``, a few one ``executemany``. Of two rows for the same item
    and source, the later wins.
    """
    if not rows:
        return
    if not is_postgres(s):
        stamp = stamp_text(s)
        upsert_sqlite(s, [(r["item_id"], r["source_id"], r["label"], encode_json(r["value"]),
                           r["confidence"], r["needs_review"], r["seconds"],
                           stamp(r["created_at"])) for r in rows])
    elif len(rows) > CHUNK:
        _upsert_staged(s, rows)
    else:
        stmt = insert(s, AnnotationRow.__table__)
        stmt = stmt.on_conflict_do_update(
            index_elements=["item_id", "source_id"],
            set_={c: getattr(stmt.excluded, c) for c in _UPSERTED},
        )
        s.connection().execute(stmt, rows)
    counted = cq.counted_sources(s, {r["source_id"] for r in rows})
    if counted:
        cq.refresh(s, [r["item_id"] for r in rows if r["source_id"] in counted])


_SQLITE_UPSERT = (
    "INSERT INTO annotations (item_id, source_id, label, value, confidence, needs_review,"
    " seconds, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (item_id, source_id)"
    " DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in _UPSERTED))


def upsert_sqlite(s: Session, rows: list[tuple[Any, ...]], *, new: bool = False) -> None:
    """SQLite: upsert annotation rows given as plain tuples in the column order of
    :data:`_SQLITE_UPSERT` (``value`` as JSON text, ``created_at`` as :func:`stamp_text`
    gives it), one ``executemany`` per batch; a plain insert when the caller knows every
    row is ``new`` (no vote of its item and source stored)."""
    sql = _SQLITE_UPSERT.split(" ON CONFLICT")[0] if new else _SQLITE_UPSERT
    for chunk in chunks(rows, BULK):
        s.connection().exec_driver_sql(sql, list(chunk))


def stamp_text(s: Session) -> Callable[[datetime], Any]:
    """How the dialect stores a timestamp (SQLite: the text SQLAlchemy writes), for rows
    written as plain tuples; a run of equal timestamps is converted once."""
    dialect = s.get_bind().dialect
    convert = AnnotationRow.__table__.c.created_at.type.dialect_impl(dialect).bind_processor(
        dialect)
    if convert is None:
        return lambda ts: ts
    last: list[Any] = [None, None]

    def stamp(ts: datetime) -> Any:
        if ts is not last[0]:
            last[0], last[1] = ts, convert(ts)
        return last[1]

    return stamp


_STAGE_COLUMNS = ("n bigint, item_id integer, source_id integer, label integer, value json, "
                  "confidence double precision, needs_review boolean, seconds double precision, "
                  "created_at timestamptz")
_COPIED = ("item_id", "source_id", "label", "value", "confidence", "needs_review", "seconds",
           "created_at")


def _upsert_staged(s: Session, rows: list[dict[str, Any]]) -> None:
    """PostgreSQL: COPY rows into a staging table, then one INSERT ... ON CONFLICT."""
    upsert_staged(s, ((r["item_id"], r["source_id"], r["label"], json.dumps(r["value"]),
                       r["confidence"], r["needs_review"], r["seconds"], r["created_at"])
                      for r in rows))


def upsert_staged(s: Session, rows: Iterable[tuple[Any, ...]]) -> None:
    """PostgreSQL: upsert annotation rows given as plain tuples in the column order of
    ``_COPIED`` (``value`` as JSON text): one ``COPY`` into a staging table, streamed from
    ``rows`` (any number, in bounded memory), then one ``INSERT ... ON CONFLICT``. Of two
    rows for the same item and source, the later wins."""
    stage_rows(s, "ll_stage_annotations", _STAGE_COLUMNS, ("n", *_COPIED),
               ((n, *r) for n, r in enumerate(rows)))
    cols = ", ".join(_COPIED)
    s.execute(text(
        f"INSERT INTO annotations ({cols}) SELECT DISTINCT ON (item_id, source_id) {cols} "
        "FROM ll_stage_annotations ORDER BY item_id, source_id, n DESC "
        "ON CONFLICT (item_id, source_id) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in _UPSERTED)))


# ``+source_id``: the sources' own index would walk every vote of theirs, not the range
_DELETE_RANGE = text("DELETE FROM annotations WHERE item_id BETWEEN :lo AND :hi"
                     " AND +source_id IN :sources").bindparams(
                         bindparam("sources", expanding=True))


def delete_votes(s: Session, source_ids: Iterable[int], item_ids: Iterable[int]) -> None:
    """Delete the votes of ``source_ids`` on ``item_ids``: by id range where the ids run
    without a gap (an index range instead of a seek per item and source), else by list."""
    srcs = sorted(set(source_ids))
    ids = np.unique(np.fromiter(item_ids, dtype=np.int64))
    runs = np.split(ids, np.flatnonzero(np.diff(ids) != 1) + 1) if ids.size else []
    single: list[int] = []
    for run in runs:
        if run.size < _RUN:
            single.extend(run.tolist())
            continue
        s.execute(_DELETE_RANGE, {"lo": int(run[0]), "hi": int(run[-1]), "sources": srcs})
    for chunk in chunks(single, BULK):
        s.execute(delete(AnnotationRow).where(AnnotationRow.source_id.in_(srcs),
                                              among(s, AnnotationRow.item_id, chunk, Integer)))


def annotation_rows(annotations: Sequence[AnnotationRecord]) -> list[dict[str, Any]]:
    """Table rows for annotation records (extras such as boxes and probs go in ``value``)."""
    now = utcnow()
    rows = []
    for a in annotations:
        value: dict[str, Any] = {}
        if a.labels is not None:
            value["labels"] = a.labels
        if a.boxes is not None:
            value["boxes"] = [b.model_dump() for b in a.boxes]
        if a.spans is not None:
            value["spans"] = [sp.model_dump(exclude_none=True) for sp in a.spans]
        if a.probs is not None:
            value["probs"] = a.probs
        rows.append(
            {
                "item_id": a.item_id, "source_id": a.source_id, "label": a.label,
                "value": value, "confidence": a.confidence,
                "needs_review": a.needs_review, "seconds": a.seconds,
                "created_at": a.created_at or now,
            }
        )
    return rows
