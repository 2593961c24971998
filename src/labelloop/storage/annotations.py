"""Sources and annotations repository: every vote, the label matrix, export snapshots."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from sqlalchemy import Integer, delete, func, select
from sqlalchemy.orm import Session

from labelloop._deps import require
from labelloop.core.matrix import ABSTAIN, LabelMatrix, compact_dtype
from labelloop.core.records import (
    AnnotationRecord,
    ItemRecord,
    Snapshot,
    SourceKind,
    SourceRecord,
    encode_json,
)
from labelloop.errors import NotFoundError, ValidationError
from labelloop.storage import claim_queue as cq
from labelloop.storage.base import (
    CHUNK,
    SqlBase,
    chunks,
    fetch_numbers,
    insert,
    is_postgres,
)
from labelloop.storage.item_stats import bulk_votes
from labelloop.storage.models import AnnotationRow, ItemRow, SourceRow, utcnow
from labelloop.storage.records import (
    Vote,
    VoteColumns,
    annotation_record,
    item_record,
    source_record,
)
from labelloop.storage.vote_rows import (
    annotation_rows,
    delete_votes,
    stamp_text,
    upsert_annotation_rows,
    upsert_sqlite,
    upsert_staged,
)

_STREAM = 100_000
"""Rows fetched per round trip when streaming the label matrix."""


# -- helpers that run inside a caller's transaction ---------------------------------------
def ensure_source_id(
    s: Session, project_id: int, kind: str, name: str, version: str,
    user_id: int | None = None,
) -> int:
    """Id of the source with this identity, inserted if missing."""
    q = select(SourceRow.id).where(
        SourceRow.project_id == project_id, SourceRow.kind == kind,
        SourceRow.name == name, SourceRow.version == version,
    )
    sid = s.scalar(q)
    if sid is None:
        s.execute(
            insert(s, SourceRow)
            .values(project_id=project_id, kind=kind, name=name, version=version,
                    user_id=user_id, created_at=utcnow())
            .on_conflict_do_nothing()
        )
        sid = s.scalar(q)
    return int(sid)  # type: ignore[arg-type]


def select_items(
    s: Session, project_id: int, *, split: str | None = None,
    ids: Sequence[int] | None = None, offset: int = 0, limit: int | None = None,
) -> list[ItemRecord]:
    """Items of a project in id order (or in the order of ``ids``, all of which must exist)."""
    q = select(ItemRow).where(ItemRow.project_id == project_id)
    if split is not None:
        q = q.where(ItemRow.split == split)
    if ids is None:
        q = q.order_by(ItemRow.id).offset(offset).limit(limit)
        return [item_record(r) for r in s.scalars(q)]
    found: dict[int, ItemRecord] = {}
    for chunk in chunks(list(ids)):
        found.update({r.id: item_record(r) for r in s.scalars(q.where(ItemRow.id.in_(chunk)))})
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFoundError(f"item(s) {missing[:5]} not found in this project")
    return [found[i] for i in ids]


def _select_annotations(
    s: Session, project_id: int, *, kinds: Iterable[str] | None = None,
    source_ids: Iterable[int] | None = None,
) -> list[AnnotationRecord]:
    # plain rows of the table, not ORM objects: nothing to track, several times faster
    table: Any = AnnotationRow.__table__
    q = (
        select(table)
        .join(SourceRow, SourceRow.id == table.c.source_id)
        .where(SourceRow.project_id == project_id)
    )
    if kinds is not None:
        q = q.where(SourceRow.kind.in_(list(kinds)))
    if source_ids is not None:
        q = q.where(SourceRow.id.in_(list(source_ids)))
    q = q.order_by(table.c.item_id, table.c.source_id)
    return [annotation_record(cast(AnnotationRow, r)) for r in s.execute(q)]


def check_owned(
    s: Session, project_id: int, item_ids: Sequence[int], source_ids: Sequence[int]
) -> None:
    """Raise NotFoundError unless every item and source belongs to the project.

    A few items are counted with one ``IN`` query; many are checked against the project's
    item ids in their id range, read in one query (no query per chunk of ids).
    """
    ids = np.unique(np.asarray(item_ids, dtype=np.int64))
    if ids.size <= CHUNK:
        n_items = int(s.scalar(select(func.count(ItemRow.id)).where(
            ItemRow.project_id == project_id, ItemRow.id.in_(ids.tolist()))) or 0)
    else:
        stored = fetch_numbers(s, select(ItemRow.id).where(
            ItemRow.project_id == project_id,
            ItemRow.id.between(int(ids[0]), int(ids[-1]))), 1, np.int64)[:, 0]
        n_items = int(np.isin(ids, stored, assume_unique=True).sum())
    if n_items != ids.size:
        raise NotFoundError("some annotated items do not belong to this project")
    srcs = sorted(set(source_ids))
    n_src = 0
    for chunk in chunks(srcs):
        n_src += int(s.scalar(select(func.count(SourceRow.id)).where(
            SourceRow.project_id == project_id, SourceRow.id.in_(chunk))) or 0)
    if n_src != len(srcs):
        raise NotFoundError("some annotation sources do not belong to this project")


class SqlAnnotations(SqlBase):
    """:class:`~labelloop.storage.protocol.AnnotationRepository` over SQL."""

    def ensure_source(
        self, project_id: int, kind: str, name: str, version: str = "",
        *, user_id: int | None = None,
    ) -> SourceRecord:
        """Return the source with this identity, creating it if needed."""
        SourceRecord(kind=kind, name=name, version=version)  # type: ignore[arg-type]
        with self.write() as s:
            sid = ensure_source_id(s, project_id, kind, name, version, user_id)
            return source_record(s.get_one(SourceRow, sid))

    def sources(self, project_id: int, *, kinds: Iterable[str] | None = None) -> list[SourceRecord]:
        """Sources of a project in id order, optionally only some kinds."""
        q = select(SourceRow).where(SourceRow.project_id == project_id)
        if kinds is not None:
            q = q.where(SourceRow.kind.in_(list(kinds)))
        with self.snapshot() as s:
            return [source_record(r) for r in s.scalars(q.order_by(SourceRow.id))]

    def user_source_id(self, project_id: int, user_id: int) -> int | None:
        """The oldest ``human`` source of a user in the project, if any."""
        with self.snapshot() as s:
            found = s.scalar(select(SourceRow.id).where(
                SourceRow.project_id == project_id, SourceRow.kind == SourceKind.HUMAN,
                SourceRow.user_id == user_id).order_by(SourceRow.id).limit(1))
        return None if found is None else int(found)

    def upsert_annotations(self, project_id: int, annotations: Sequence[AnnotationRecord]) -> int:
        """Store annotations; a source's earlier answer for the same item is replaced."""
        if not annotations:
            return 0
        with self.write() as s:
            item_ids = sorted({a.item_id for a in annotations})
            source_ids = sorted({a.source_id for a in annotations})
            check_owned(s, project_id, item_ids, source_ids)
            with bulk_votes(s, item_ids, source_ids, rows=len(annotations)):
                upsert_annotation_rows(s, annotation_rows(annotations))
        return len(annotations)

    def upsert_posterior(
        self, project_id: int, source_id: int, item_ids: Sequence[int],
        labels: npt.ArrayLike, confidence: npt.ArrayLike, probs: npt.ArrayLike,
        needs_review: npt.ArrayLike, *, batch_size: int = 5000,
    ) -> int:
        """Store a label model's posterior as one source's answer on each item, atomically.

        Rows are built from the arrays one batch at a time inside one transaction (no record
        per item held in memory), so a posterior over a million items writes in bounded
        memory and a failure stores nothing. A label of -1 (the model abstains) is stored
        as no label.

        Raises
        ------
        ValidationError
            If the arrays do not have one entry (one row of ``probs``) per item.
        NotFoundError
            If the source or an item is not in this project.
        """
        ids = np.asarray(item_ids, dtype=np.int64).reshape(-1)
        lab = np.asarray(labels).reshape(-1)
        conf = np.clip(np.asarray(confidence, dtype=np.float64).reshape(-1), 0.0, 1.0)
        P = np.asarray(probs, dtype=np.float64)
        rev = np.asarray(needs_review, dtype=bool).reshape(-1)
        if not (lab.size == conf.size == rev.size == ids.size and P.ndim == 2
                and P.shape[0] == ids.size):
            raise ValidationError(
                f"a posterior needs one label, confidence, review flag and row of probs per "
                f"item: {ids.size} items, {lab.size} labels, {conf.size} confidences, "
                f"{rev.size} flags, probs of shape {P.shape}")
        if batch_size < 1:
            raise ValidationError(f"batch_size must be at least 1, got {batch_size}")
        now = utcnow()
        with self.write() as s:
            check_owned(s, project_id, ids.tolist(), [source_id])
            sqlite = not is_postgres(s)
            stamp = stamp_text(s)(now)
            # a source's first posterior (each item once): nothing to replace, plain inserts
            new = sqlite and np.unique(ids).size == ids.size and s.scalar(
                select(AnnotationRow.id).where(AnnotationRow.source_id == source_id).limit(1)
            ) is None
            staged = not sqlite and ids.size > CHUNK
            with bulk_votes(s, ids, [source_id], rows=ids.size):
                if staged:  # PostgreSQL: every row in one COPY and one upsert
                    upsert_staged(s, (
                        (i, source_id, None if y < 0 else int(y), json.dumps({"probs": p}),
                         c, r, None, now)
                        for a in range(0, ids.size, batch_size)
                        for i, y, c, p, r in zip(
                            ids[a:a + batch_size].tolist(), lab[a:a + batch_size].tolist(),
                            conf[a:a + batch_size].tolist(), P[a:a + batch_size].tolist(),
                            rev[a:a + batch_size].tolist(), strict=True)))
                for a in range(0, 0 if staged else ids.size, batch_size):
                    b = min(a + batch_size, ids.size)
                    batch = zip(ids[a:b].tolist(), lab[a:b].tolist(), conf[a:b].tolist(),
                                P[a:b].tolist(), rev[a:b].tolist(), strict=True)
                    if sqlite:  # plain tuples, the probabilities encoded here
                        upsert_sqlite(s, [
                            (i, source_id, None if y < 0 else int(y), encode_json({"probs": p}),
                             c, r, None, stamp) for i, y, c, p, r in batch], new=new)
                        continue
                    upsert_annotation_rows(s, [
                        {"item_id": i, "source_id": source_id,
                         "label": None if y < 0 else int(y), "value": {"probs": p},
                         "confidence": c, "needs_review": r, "seconds": None,
                         "created_at": now} for i, y, c, p, r in batch])
            if (sqlite or staged) and cq.counted_sources(s, [source_id]):
                cq.refresh(s, ids.tolist())
        return int(ids.size)

    def replace_annotations(
        self, project_id: int, source_ids: Sequence[int], item_ids: Sequence[int],
        annotations: Sequence[AnnotationRecord],
    ) -> int:
        """Make ``annotations`` the whole answer of ``source_ids`` on ``item_ids``, atomically.

        Earlier annotations of those sources on those items are removed first, so an item
        where a source now abstains loses its stale vote (e.g. an edited labeling function
        applied again). Other items and sources are untouched.

        Raises
        ------
        ValidationError
            If an annotation lies outside the given sources or items.
        NotFoundError
            If a source or item is not in this project.
        """
        srcs, items = set(source_ids), set(item_ids)
        outside = [a for a in annotations if a.source_id not in srcs or a.item_id not in items]
        if outside:
            raise ValidationError(
                f"annotation of item {outside[0].item_id} by source {outside[0].source_id} is "
                "outside the sources and items being replaced"
            )
        with self.write() as s:
            check_owned(s, project_id, sorted(items), sorted(srcs))
            with bulk_votes(s, sorted(items), srcs, rows=len(items) + len(annotations)):
                delete_votes(s, srcs, items)
                upsert_annotation_rows(s, annotation_rows(annotations))
            if cq.counted_sources(s, srcs):
                cq.refresh(s, items)
        return len(annotations)

    def replace_votes(
        self, project_id: int, source_ids: Sequence[int], item_ids: Sequence[int],
        votes: npt.ArrayLike,
    ) -> int:
        """Make a block of a label matrix the whole answer of ``source_ids`` on ``item_ids``.

        ``votes`` has a row per item and a column per source: a class index, or -1 where
        the source abstains. The same as :meth:`replace_annotations` with one single-label
        annotation per vote (earlier votes of those sources on those items go, the new
        ones are stored, atomically), without a record per vote: rows are built straight
        from the array. Returns the number of votes stored.

        Raises
        ------
        ValidationError
            If ``votes`` is not ``len(item_ids) x len(source_ids)``, holds a value below -1,
            or a source or item repeats.
        NotFoundError
            If a source or item is not in this project.
        """
        V = np.asarray(votes)
        ids = np.asarray(item_ids, dtype=np.int64).reshape(-1)
        srcs = np.asarray(source_ids, dtype=np.int64).reshape(-1)
        if V.ndim != 2 or V.shape != (ids.size, srcs.size):
            raise ValidationError(f"expected one row of votes per item and one column per "
                                  f"source, {ids.size} x {srcs.size}; got shape {V.shape}")
        if np.unique(ids).size != ids.size or np.unique(srcs).size != srcs.size:
            raise ValidationError("each item and each source may appear once")
        if V.size and int(V.min()) < ABSTAIN:
            raise ValidationError(f"votes are class indices or {ABSTAIN} (abstain); "
                                  f"got {int(V.min())}")
        at, col = np.nonzero(V != ABSTAIN)
        columns = (ids[at].tolist(), srcs[col].tolist(), V[at, col].tolist())
        now = utcnow()
        with self.write() as s:
            check_owned(s, project_id, ids.tolist(), srcs.tolist())
            with bulk_votes(s, ids, srcs.tolist(), rows=ids.size + at.size):
                delete_votes(s, set(srcs.tolist()), ids.tolist())
                if is_postgres(s):
                    upsert_annotation_rows(s, [
                        {"item_id": i, "source_id": j, "label": y, "value": {},
                         "confidence": None, "needs_review": False, "seconds": None,
                         "created_at": now} for i, j, y in zip(*columns, strict=True)])
                else:
                    stamp = stamp_text(s)(now)
                    upsert_sqlite(s, [(i, j, y, "{}", None, False, None, stamp)
                                      for i, j, y in zip(*columns, strict=True)], new=True)
            if cq.counted_sources(s, srcs.tolist()):
                cq.refresh(s, ids.tolist())
        return int(at.size)

    def annotations(
        self, project_id: int, *, kinds: Iterable[str] | None = None,
        source_ids: Iterable[int] | None = None,
    ) -> list[AnnotationRecord]:
        """Annotations of a project, optionally only some source kinds or ids."""
        with self.snapshot() as s:
            return _select_annotations(s, project_id, kinds=kinds, source_ids=source_ids)

    def user_annotation(self, project_id: int, user_id: int, item_id: int
                        ) -> AnnotationRecord | None:
        """A user's own (``human``) annotation of an item, if any."""
        with self.snapshot() as s:
            row = s.scalars(
                select(AnnotationRow).join(SourceRow, SourceRow.id == AnnotationRow.source_id)
                .where(AnnotationRow.item_id == item_id, SourceRow.user_id == user_id,
                       SourceRow.kind == SourceKind.HUMAN, SourceRow.project_id == project_id)
            ).first()
            return None if row is None else annotation_record(row)

    def votes(
        self, project_id: int, *, item_ids: Sequence[int] | None = None,
        kinds: Iterable[str] | None = None,
    ) -> list[Vote]:
        """Annotations with their source's kind, name and user, by item then source id."""
        q = (
            select(SourceRow.kind, SourceRow.name, SourceRow.user_id, AnnotationRow)
            .join(AnnotationRow, AnnotationRow.source_id == SourceRow.id)
            .where(SourceRow.project_id == project_id)
            .order_by(AnnotationRow.item_id, SourceRow.id)
        )
        if item_ids is not None:
            q = q.where(AnnotationRow.item_id.in_(list(item_ids)))
        if kinds is not None:
            q = q.where(SourceRow.kind.in_(list(kinds)))
        with self.snapshot() as s:
            return [Vote(kind, name, uid, annotation_record(row))
                    for kind, name, uid, row in s.execute(q).all()]

    def vote_columns(
        self, project_id: int, *, kinds: Iterable[str] | None = None
    ) -> VoteColumns:
        """Single-label annotations (label not null) of ``kinds`` as arrays, by item then
        source id: what :meth:`annotations` gives, without a record per annotation.

        One streamed query of plain numbers placed with NumPy; the value (JSON) is read
        only for rows without a confidence, whose largest probability stands in for it.
        """
        A = AnnotationRow
        q = (select(A.item_id, A.source_id, A.label, func.coalesce(A.confidence, -1.0),
                    A.confidence.is_(None).cast(Integer))
             .join(SourceRow, SourceRow.id == A.source_id)
             .where(SourceRow.project_id == project_id, A.label.is_not(None)))
        if kinds is not None:
            q = q.where(SourceRow.kind.in_(list(kinds)))
        with self.snapshot() as s:
            cols = fetch_numbers(s, q, 5, np.float64, rows=_STREAM)
            order = np.lexsort((cols[:, 1], cols[:, 0]))
            cols = cols[order]
            conf = cols[:, 3].copy()
            missing = np.flatnonzero(cols[:, 4] > 0)
            if missing.size:
                conf[missing] = _probs_max(s, cols[missing, 0].astype(np.int64),
                                           cols[missing, 1].astype(np.int64))
        return VoteColumns(cols[:, 0].astype(np.int64), cols[:, 1].astype(np.int64),
                           cols[:, 2].astype(np.int64), conf)

    def delete_annotations(self, project_id: int, source_id: int) -> int:
        """Remove every annotation of one source (e.g. before refitting a label model)."""
        with self.write() as s:
            owned = s.scalar(
                select(SourceRow.id).where(
                    SourceRow.project_id == project_id, SourceRow.id == source_id
                )
            )
            if owned is None:
                raise NotFoundError(f"source {source_id} not found in this project")
            items = []
            if cq.counted_sources(s, [source_id]):
                items = list(s.scalars(select(AnnotationRow.item_id)
                                       .where(AnnotationRow.source_id == source_id)))
            res = s.execute(delete(AnnotationRow).where(AnnotationRow.source_id == source_id))
            cq.refresh(s, items)
            return int(res.rowcount or 0)  # type: ignore[attr-defined]

    def label_matrix(
        self, project_id: int, *, kinds: Iterable[str] | None = None,
        item_ids: Sequence[int] | None = None, all_versions: bool = False,
        sparse: bool = False,
    ) -> LabelMatrix:
        """Label matrix of single-label annotations: rows are items, columns sources.

        Only the newest version of each source (same kind and name) is a column unless
        ``all_versions``: a model drafted again after new human labels, or a labeling
        function applied under a new version, replaces its earlier column instead of voting
        twice.

        The votes are read in one streamed query of ``(item_id, source_id, label)`` and
        placed with NumPy. The matrix is compact: ``int8`` (``int16`` for labels past 126).
        With ``sparse``, ``L`` is a SciPy CSR matrix holding ``label + 1`` (0 = abstain),
        which every label model reads; needs SciPy (the ``ml`` extra).
        """
        with self.snapshot() as s:
            if item_ids is None:
                ids = fetch_numbers(s, select(ItemRow.id).where(ItemRow.project_id == project_id)
                                    .order_by(ItemRow.id), 1, np.int64, rows=_STREAM)[:, 0]
            else:
                ids = np.asarray(item_ids, dtype=np.int64).reshape(-1)
            srcs = select(SourceRow).where(SourceRow.project_id == project_id)
            if kinds is not None:
                srcs = srcs.where(SourceRow.kind.in_(list(kinds)))
            sources = list(s.scalars(srcs.order_by(SourceRow.id)))
            if not all_versions:
                newest = {(r.kind, r.name): r.id for r in sources}  # id order: the last wins
                sources = [r for r in sources if newest[(r.kind, r.name)] == r.id]
            source_ids = np.asarray([r.id for r in sources], dtype=np.int64)
            votes: npt.NDArray[Any] = np.empty((0, 3), dtype=np.int64)
            if source_ids.size and ids.size:
                votes = fetch_numbers(
                    s,
                    select(AnnotationRow.item_id, AnnotationRow.source_id, AnnotationRow.label)
                    .where(AnnotationRow.source_id.in_(source_ids.tolist()))
                    .where(AnnotationRow.label.is_not(None)),
                    3, np.int64, rows=_STREAM)
        rows, keep = _positions(ids, votes[:, 0])
        cols, _ = _positions(source_ids, votes[:, 1])
        rows, cols, labels = rows[keep], cols[keep], votes[keep, 2]
        shape = (ids.size, source_ids.size)
        dtype = compact_dtype(int(labels.max()) + 1 if labels.size else 1)
        L: Any
        if sparse:
            sp = require("ml", "scipy.sparse", feature="a sparse label matrix")
            L = sp.csr_matrix(((labels + 1).astype(dtype), (rows, cols)), shape=shape)
        else:
            L = np.full(shape, ABSTAIN, dtype=dtype)
            L[rows, cols] = labels
        return LabelMatrix(L, ids.tolist(), source_ids.tolist())

    def export_snapshot(self, project_id: int) -> Snapshot:
        """Items, sources and annotations of a project, read in one consistent snapshot."""
        with self.snapshot() as s:
            items = select_items(s, project_id)
            sources = [
                source_record(r)
                for r in s.scalars(
                    select(SourceRow).where(SourceRow.project_id == project_id)
                    .order_by(SourceRow.id)
                )
            ]
            annotations = _select_annotations(s, project_id)
        return Snapshot(items, sources, annotations)


def _probs_max(s: Session, item_ids: npt.NDArray[np.int64], source_ids: npt.NDArray[np.int64]
               ) -> npt.NDArray[np.float64]:
    """Largest stored probability of each (item, source) annotation (NaN where none)."""
    found: dict[tuple[int, int], float] = {}
    for sid in np.unique(source_ids).tolist():
        ids = item_ids[source_ids == sid].tolist()
        for chunk in chunks(ids):
            q = select(AnnotationRow.item_id, AnnotationRow.value).where(
                AnnotationRow.source_id == sid, AnnotationRow.item_id.in_(list(chunk)))
            for i, value in s.execute(q):
                probs = (value or {}).get("probs")
                if probs:
                    found[(int(i), sid)] = float(max(probs))
    return np.asarray([found.get((i, j), np.nan) for i, j in
                       zip(item_ids.tolist(), source_ids.tolist(), strict=True)],
                      dtype=np.float64)


def _positions(
    keys: npt.NDArray[np.int64], values: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Index of each of ``values`` in ``keys`` (any order, unique) and where it was found."""
    order = np.argsort(keys, kind="stable")
    ranked = keys[order]
    at = np.searchsorted(ranked, values)
    at = np.minimum(at, max(ranked.size - 1, 0))
    found = ranked[at] == values if ranked.size else np.zeros(values.size, dtype=bool)
    return (order[at] if ranked.size else at).astype(np.int64), found
