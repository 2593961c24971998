"""Items repository: all-or-nothing imports, reads, priorities, failures, embeddings."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from itertools import islice
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import String, bindparam, func, select, text, update
from sqlalchemy.orm import Session

from labelloop.core.records import ImportItem, ItemRecord, PendingAnnotation
from labelloop.errors import ValidationError
from labelloop.storage import claim_queue as cq
from labelloop.storage.annotations import ensure_source_id, select_items
from labelloop.storage.base import (
    BULK,
    CHUNK,
    SqlBase,
    among,
    chunks,
    fetch_numbers,
    insert,
    is_postgres,
    rebuilt_indexes,
    refresh_stale_statistics,
    stage_rows,
)
from labelloop.storage.item_stats import bulk_votes
from labelloop.storage.models import EmbeddingRow, FailureRow, ImportFileRow, ItemRow, utcnow
from labelloop.storage.records import Failure, ImportResult
from labelloop.storage.search import index_items
from labelloop.storage.vote_rows import upsert_annotation_rows

_PRIORITY_STAGE = "ll_stage_priorities"
_ITEM_COLUMNS = ("content_hash", "external_id", "data", "meta", "split", "width", "height")
_ITEM_STAGE = ("content_hash varchar(64), external_id varchar(200), data json, meta json, "
               "split varchar(20), width integer, height integer")


def _ids_by_hash(s: Session, project_id: int, hashes: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for chunk in chunks(hashes, BULK):
        q = select(ItemRow.content_hash, ItemRow.id).where(
            ItemRow.project_id == project_id, among(s, ItemRow.content_hash, chunk, String)
        )
        out.update({h: i for h, i in s.execute(q)})
    return out


IMPORT_CACHE_KIB = 128 * 1024
"""SQLite page cache of an import's connection while it writes (the default is 2 MiB).

A large import inserts its content hashes into the ``(project_id, content_hash)`` index
in random order: with the default cache nearly every row evicted a modified page into the
write-ahead log and read another back (at 1M items the items insert took 50 s, about half
of the import). The cache grows only as pages are used, and shrinks back afterwards."""
_SQLITE_INSERT = ("INSERT INTO items (id, project_id, content_hash, external_id, data, meta,"
                  " split, width, height, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                  " ON CONFLICT DO NOTHING")


_RANK_INDEXES = ("ix_items_project_priority_id",
                 "ix_claim_queue_next")
"""The indexes a priority write moves entries of (SQLite rebuilds them after a big one)."""
REBUILD_ROWS = 50_000
"""SQLite: a priority write of at least this many items rebuilds :data:`_RANK_INDEXES`."""
_SQLITE_PRIORITY = "UPDATE items SET priority = ? WHERE id = ? AND project_id = ?"


def write_priorities(s: Session, project_id: int, priorities: dict[int, float]) -> None:
    """Store items' priorities and their queue order inside the caller's transaction:
    batches of ``executemany`` of plain tuples on SQLite (at least :data:`REBUILD_ROWS`
    of them with the priority and queue-order indexes dropped and built again after);
    on PostgreSQL many priorities go through ``COPY`` into a staging table and one
    ``UPDATE ... FROM`` per table."""
    if is_postgres(s) and len(priorities) > CHUNK:
        stage_rows(s, _PRIORITY_STAGE, "item_id integer, priority double precision",
                   ("item_id", "priority"),
                   ((int(i), float(p)) for i, p in priorities.items()))
        s.execute(text(f"UPDATE items SET priority = st.priority FROM {_PRIORITY_STAGE}"
                       " st WHERE items.id = st.item_id AND items.project_id = :pid"),
                  {"pid": project_id})
        cq.set_rank_staged(s, project_id, _PRIORITY_STAGE)
        return
    if is_postgres(s):
        stmt = (update(ItemRow).where(ItemRow.project_id == bindparam("b_project"),
                                      ItemRow.id == bindparam("b_item"))
                .values(priority=bindparam("b_priority")))
        s.connection().execute(stmt, [
            {"b_project": project_id, "b_item": int(i), "b_priority": float(p)}
            for i, p in priorities.items()])
        cq.set_rank(s, project_id, priorities)
        return
    rebuild = len(priorities) >= REBUILD_ROWS
    with rebuilt_indexes(s, _RANK_INDEXES) if rebuild else nullcontext():
        pairs = iter(priorities.items())  # a batch of tuples at a time: bounded memory
        while batch := [(float(p), int(i), project_id) for i, p in islice(pairs, BULK)]:
            s.connection().exec_driver_sql(_SQLITE_PRIORITY, batch)
        cq.set_rank(s, project_id, priorities)


@contextmanager
def _import_cache(s: Session) -> Iterator[None]:
    """SQLite: a page cache of :data:`IMPORT_CACHE_KIB` for the connection while the block
    runs, the one it had after (nothing to do on PostgreSQL, whose buffers are shared)."""
    if is_postgres(s):
        yield
        return
    conn = s.connection()
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql(f"PRAGMA cache_size = -{IMPORT_CACHE_KIB}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {int(before or -2000)}")


class _Importer:
    """One import inside its write transaction: each batch is stored set-based (one
    multi-row insert of its new items, one lookup of the items already stored, their
    queue rows, their annotations)."""

    def __init__(self, s: Session, project_id: int) -> None:
        self.s = s
        self.project_id = project_id
        self.now = utcnow()
        self.sources: dict[tuple[str, str, str], int] = {}
        self.result = ImportResult()
        self.next_id: int | None = None
        self.stamp: Any = None

    def add(self, items: Sequence[ItemRecord | ImportItem],
            annotations: Sequence[PendingAnnotation]) -> None:
        """Store one batch; an annotation's item must be in the same batch."""
        s, res = self.s, self.result
        new_rows: dict[str, ImportItem] = {}
        for it in items:
            row = it if isinstance(it, ImportItem) else ImportItem.of(it)
            new_rows.setdefault(row.content_hash, row)
        if not new_rows:  # an empty batch (a project created without items)
            added: dict[str, int] = {}
        elif not is_postgres(s):
            added = self._insert_sqlite(new_rows)
        elif len(new_rows) > CHUNK:
            added = self._copy_items(new_rows)
        else:
            added = self._insert_items(new_rows)
        ids = _ids_by_hash(s, self.project_id, [h for h in new_rows if h not in added])
        ids.update(added)
        res.added += len(added)
        res.skipped += len(items) - len(added)
        res.item_ids.extend(ids[h] for h in new_rows)
        cq.add_items(s, self.project_id, list(added.values()))
        index_items(s, self.project_id, list(added.values()))
        res.annotations += self._annotations(ids, annotations)
        self.check_statistics()  # one catalog read per batch

    def check_statistics(self, *, final: bool = False) -> None:
        """Refresh the planner's statistics of the tables this import writes if they
        were taken without its rows, or (``final``) never taken (see
        :func:`~labelloop.storage.base.refresh_stale_statistics`)."""
        refresh_stale_statistics(
            self.s, ("items", "claim_queue", "annotations"), self.result.added,
            unanalyzed=final)

    def _insert_sqlite(self, rows: dict[str, ImportItem]) -> dict[str, int]:
        """SQLite: one ``executemany`` of plain tuples, ids given in order from the
        largest stored (this transaction is the only writer). Rows already stored are
        skipped; their ids were not used, and those of the rows added are read back."""
        s = self.s
        if self.next_id is None:
            self.next_id = int(s.scalar(select(func.max(ItemRow.id))) or 0) + 1
            dialect = s.get_bind().dialect
            stamp_type = ItemRow.__table__.c.created_at.type.dialect_impl(dialect)
            bind = stamp_type.bind_processor(dialect)  # the text SQLAlchemy stores
            self.stamp = bind(self.now) if bind is not None else self.now
        first, pid, stamp = self.next_id, self.project_id, self.stamp
        params = [(first + n, pid, h, it.external_id, it.data_json, it.meta_json, it.split,
                   it.width, it.height, stamp) for n, (h, it) in enumerate(rows.items())]
        self.next_id += len(params)
        written = s.connection().exec_driver_sql(_SQLITE_INSERT, params).rowcount
        if written == len(params):
            return {h: first + n for n, h in enumerate(rows)}
        return {h: i for h, i in _ids_by_hash(s, pid, list(rows)).items() if i >= first}

    def _insert_items(self, rows: dict[str, ImportItem]) -> dict[str, int]:
        """Multi-row inserts; the ids of the rows added (not those already stored)."""
        table = ItemRow.__table__
        stmt = (insert(self.s, table).on_conflict_do_nothing()
                .returning(table.c.content_hash, table.c.id))
        values = [{"project_id": self.project_id, "content_hash": h,
                   "external_id": it.external_id, "data": it.data, "meta": it.meta,
                   "split": it.split, "width": it.width, "height": it.height,
                   "created_at": self.now} for h, it in rows.items()]
        return {h: i for h, i in self.s.connection().execute(stmt, values)}

    def _copy_items(self, rows: dict[str, ImportItem]) -> dict[str, int]:
        """PostgreSQL: COPY into a staging table, one INSERT ... SELECT ... RETURNING."""
        stage_rows(self.s, "ll_stage_items", _ITEM_STAGE, _ITEM_COLUMNS, (
            (h, it.external_id, it.data_json, it.meta_json, it.split, it.width, it.height)
            for h, it in rows.items()))
        cols = ", ".join(_ITEM_COLUMNS)
        found = self.s.execute(text(
            f"INSERT INTO items (project_id, created_at, {cols}) "
            f"SELECT :pid, :now, {cols} FROM ll_stage_items "
            "ON CONFLICT DO NOTHING RETURNING content_hash, id"),
            {"pid": self.project_id, "now": self.now})
        return {h: i for h, i in found}

    def _annotations(self, ids: dict[str, int], annotations: Sequence[PendingAnnotation]) -> int:
        rows: list[dict[str, Any]] = []
        items: list[int] = []
        for a in annotations:
            key = (a.kind, a.name, a.version)
            if key not in self.sources:
                self.sources[key] = ensure_source_id(self.s, self.project_id, *key)
            value: dict[str, Any] = {}
            if a.labels is not None:
                value["labels"] = a.labels
            if a.boxes is not None:
                value["boxes"] = a.boxes
            if a.spans is not None:
                value["spans"] = a.spans
            items.append(ids[a.content_hash])
            rows.append({
                "item_id": items[-1], "source_id": self.sources[key],
                "label": a.label, "value": value, "confidence": a.confidence,
                "needs_review": a.needs_review, "seconds": None, "created_at": self.now,
            })
        with bulk_votes(self.s, items, {r["source_id"] for r in rows}, rows=len(rows)):
            upsert_annotation_rows(self.s, rows)
        return len(rows)


class SqlItems(SqlBase):
    """:class:`~labelloop.storage.protocol.ItemRepository` over SQL."""

    def import_records(
        self,
        project_id: int,
        items: Sequence[ItemRecord | ImportItem],
        annotations: Sequence[PendingAnnotation] = (),
    ) -> ImportResult:
        """Add items and their annotations in one transaction (all or nothing).

        Items already stored (same content hash) are skipped, so importing the same
        rows twice adds nothing; their annotations are upserted.
        """
        return self.import_batches(project_id, [(items, annotations)])

    def import_batches(
        self, project_id: int,
        batches: Iterable[tuple[Sequence[ItemRecord | ImportItem],
                                Sequence[PendingAnnotation]]],
        *, file_key: str | None = None, file_name: str = "",
    ) -> ImportResult:
        """Store ``(items, annotations)`` batches as they come, in one transaction.

        The batches may be a generator that parses a file: each batch is written as soon
        as it is read (memory stays bounded by one batch), and an exception raised by the
        generator (a validation report at the end of the file) rolls everything back, so
        the import stays all or nothing. An annotation's item must be in its batch.
        ``file_key`` (a hash of the file and the import options) is recorded with the
        import, so :meth:`imported_file` can tell a repeated import of the same file.
        ``item_ids`` of the result hold one id per distinct item of each batch.
        """
        with self.write() as s, _import_cache(s):
            importer = _Importer(s, project_id)
            for items, annotations in batches:
                importer.add(items, annotations)
            importer.check_statistics(final=True)  # the plans after it should see its rows
            result = importer.result
            if file_key is not None:
                s.execute(insert(s, ImportFileRow).values(
                    project_id=project_id, file_key=file_key, name=file_name[:300],
                    items=result.added + result.skipped, annotations=result.annotations,
                    created_at=importer.now).on_conflict_do_nothing())
        return result

    def imported_file(self, project_id: int, file_key: str) -> ImportResult | None:
        """What the import recorded under ``file_key`` stored, or None if none did.

        The result has ``unchanged`` set, ``skipped`` the number of rows then read, and
        no item ids.
        """
        with self.snapshot() as s:
            row = s.execute(select(ImportFileRow.items).where(
                ImportFileRow.project_id == project_id, ImportFileRow.file_key == file_key)
            ).first()
        return None if row is None else ImportResult(skipped=int(row[0]), unchanged=True)

    def items(
        self, project_id: int, *, split: str | None = None, ids: Sequence[int] | None = None,
        offset: int = 0, limit: int | None = None,
    ) -> list[ItemRecord]:
        """Items of a project in id order, optionally one split, a page, or given ids.

        With ``ids`` the items come in that order and a missing one raises NotFoundError
        (``offset`` and ``limit`` then do not apply).
        """
        with self.snapshot() as s:
            return select_items(s, project_id, split=split, ids=ids, offset=offset, limit=limit)

    def count_items(self, project_id: int) -> int:
        """Number of items in a project."""
        with self.snapshot() as s:
            return int(
                s.scalar(select(func.count(ItemRow.id)).where(ItemRow.project_id == project_id))
                or 0
            )

    def set_priorities(self, project_id: int, priorities: dict[int, float]) -> None:
        """Store the active-learning priority of items (higher is labeled sooner).

        Set-based: batches of ``executemany`` on SQLite; on PostgreSQL many priorities go
        through ``COPY`` into a staging table and one ``UPDATE ... FROM`` per table.
        """
        if not priorities:
            return
        with self.write() as s:
            write_priorities(s, project_id, priorities)

    # -- failures and embeddings --------------------------------------------------------
    def record_failures(self, project_id: int, failures: Sequence[Failure]) -> None:
        """Record per-item failures (the rest of the batch is stored as usual)."""
        if not failures:
            return
        now = utcnow()
        with self.write() as s:
            s.execute(
                insert(s, FailureRow),
                [
                    {"project_id": project_id, "item_id": f.item_id, "source_id": f.source_id,
                     "stage": f.stage, "error": f.error[:2000], "created_at": now}
                    for f in failures
                ],
            )

    def failures(self, project_id: int, *, stage: str | None = None) -> list[Failure]:
        """Recorded per-item failures, oldest first."""
        q = select(FailureRow).where(FailureRow.project_id == project_id)
        if stage is not None:
            q = q.where(FailureRow.stage == stage)
        with self.snapshot() as s:
            return [
                Failure(r.item_id, r.source_id, r.stage, r.error)
                for r in s.scalars(q.order_by(FailureRow.id))
            ]

    def put_embeddings(
        self, model: str, item_ids: Sequence[int], vectors: npt.NDArray[Any]
    ) -> None:
        """Cache float32 embeddings of items under a model name (replacing old ones)."""
        arr = np.asarray(vectors, dtype=np.float32)
        if arr.ndim != 2 or arr.shape[0] != len(item_ids):
            raise ValidationError(
                f"expected one vector per item: {len(item_ids)} items, array shape {arr.shape}"
            )
        rows = [
            {"item_id": int(i), "model": model, "dim": arr.shape[1], "vector": arr[n].tobytes()}
            for n, i in enumerate(item_ids)
        ]
        with self.write() as s:
            for chunk in chunks(rows):
                stmt = insert(s, EmbeddingRow)
                stmt = stmt.on_conflict_do_update(
                    index_elements=["item_id", "model"],
                    set_={"dim": stmt.excluded.dim, "vector": stmt.excluded.vector},
                )
                s.execute(stmt, list(chunk))

    def get_embeddings(
        self, model: str, item_ids: Sequence[int], *, path: str | os.PathLike[str] | None = None,
    ) -> tuple[list[int], npt.NDArray[np.float32]]:
        """Cached embeddings: the ids found (in the order asked) and their vectors.

        Many ids are read in one streamed range query and placed with NumPy, straight into
        the result array (no per-item objects, no second copy when every id is found in
        id order).

        With ``path``, and ``item_ids`` in increasing order, the vectors are written to a
        new file there (raw float32, row-major) a part at a time and come back as a
        read-only :class:`numpy.memmap` of it: a million 384-d vectors take 1.5 GB of disk,
        not of memory, and rows are read from disk only when used. The caller removes the
        file. Other orders are read into memory as without ``path``.

        Raises
        ------
        ValidationError
            If the cached vectors of ``model`` do not all have the same length.
        """
        ids = np.asarray(item_ids, dtype=np.int64).reshape(-1)
        empty: tuple[list[int], npt.NDArray[np.float32]] = [], np.zeros((0, 0), np.float32)
        if ids.size == 0:
            return empty
        if path is not None and bool(np.all(ids[1:] > ids[:-1])):
            return self._embeddings_to_file(model, ids, path)
        wanted = np.unique(ids)
        X: npt.NDArray[np.float32] | None = None
        have = np.zeros(wanted.size, dtype=bool)
        with self.snapshot() as s:
            for pos, vecs in _vector_parts(s, model, wanted):
                if X is None:
                    X = np.zeros((wanted.size, vecs.shape[1]), dtype=np.float32)
                elif X.shape[1] != vecs.shape[1]:
                    raise ValidationError(_MIXED.format(model=model))
                X[pos] = vecs
                have[pos] = True
        if X is None:
            return empty
        if have.all() and ids.size == wanted.size and bool(np.all(ids[1:] > ids[:-1])):
            return ids.tolist(), X
        rows = np.searchsorted(wanted, ids)
        found = have[rows]
        return ids[found].tolist(), X[rows[found]]

    def _embeddings_to_file(
        self, model: str, ids: npt.NDArray[np.int64], path: str | os.PathLike[str]
    ) -> tuple[list[int], npt.NDArray[np.float32]]:
        """:meth:`get_embeddings` of increasing ``ids`` into a file at ``path``: which ids
        have a vector is read first (ids only), so each part of vectors is written at its
        final row; the file is then mapped read-only."""
        E = EmbeddingRow
        with self.snapshot() as s:
            q = select(E.item_id).where(E.model == model)
            stored = fetch_numbers(s, _among_ids(q, ids), 1, np.int64)[:, 0]
            found = ids[np.isin(ids, stored)]
            if found.size == 0:
                return [], np.zeros((0, 0), np.float32)
            dim = 0
            with open(path, "wb") as fh:
                for pos, vecs in _vector_parts(s, model, found):
                    if not dim:
                        dim = vecs.shape[1]
                        fh.truncate(found.size * dim * 4)
                    elif vecs.shape[1] != dim:
                        raise ValidationError(_MIXED.format(model=model))
                    # runs of consecutive rows go in one write each
                    cuts = np.flatnonzero(np.diff(pos) != 1) + 1
                    for run, block in zip(np.split(pos, cuts), np.split(vecs, cuts),
                                          strict=True):
                        fh.seek(int(run[0]) * dim * 4)
                        fh.write(block.tobytes())
        X = np.memmap(path, dtype=np.float32, mode="r", shape=(found.size, dim))
        return found.tolist(), X


_MIXED = ("cached {model!r} vectors differ in length: cache the embeddings again under "
          "one model")


def _among_ids(q: Any, wanted: npt.NDArray[np.int64]) -> Any:
    """``q`` narrowed to the embeddings of ``wanted`` (sorted): a list of a few, else
    their id range (rows outside ``wanted`` are dropped by the caller)."""
    E = EmbeddingRow
    if wanted.size <= CHUNK:
        return q.where(E.item_id.in_(wanted.tolist()))
    return q.where(E.item_id.between(int(wanted[0]), int(wanted[-1])))


def _vector_parts(
    s: Session, model: str, wanted: npt.NDArray[np.int64]
) -> Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]]:
    """The vectors of ``wanted`` (sorted, unique) 10k rows at a time, in id order: their
    positions in ``wanted`` and the vectors as a float32 block."""
    E = EmbeddingRow
    q = _among_ids(select(E.item_id, E.vector).where(E.model == model), wanted)
    for part in s.connection().execute(q.execution_options(yield_per=10_000)).partitions():
        got = np.fromiter((r[0] for r in part), dtype=np.int64, count=len(part))
        pos = np.minimum(np.searchsorted(wanted, got), wanted.size - 1)
        keep = wanted[pos] == got
        vecs = [r[1] for r, k in zip(part, keep, strict=True) if k]
        if not vecs:
            continue
        dim = len(vecs[0]) // 4
        if any(len(v) != 4 * dim for v in vecs):
            raise ValidationError(_MIXED.format(model=model))
        yield pos[keep], np.frombuffer(b"".join(vecs), dtype=np.float32).reshape(-1, dim)
