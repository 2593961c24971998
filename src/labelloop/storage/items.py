"""Items repository: all-or-nothing imports, reads, priorities, failures, embeddings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from labelloop.core.records import ItemRecord, PendingAnnotation
from labelloop.errors import ValidationError
from labelloop.storage import claim_queue as cq
from labelloop.storage.annotations import ensure_source_id, select_items, upsert_annotation_rows
from labelloop.storage.base import SqlBase, chunks, insert
from labelloop.storage.models import EmbeddingRow, FailureRow, ItemRow, utcnow
from labelloop.storage.records import Failure, ImportResult


def _ids_by_hash(s: Session, project_id: int, hashes: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for chunk in chunks(hashes):
        q = select(ItemRow.content_hash, ItemRow.id).where(
            ItemRow.project_id == project_id, ItemRow.content_hash.in_(chunk)
        )
        out.update({h: i for h, i in s.execute(q)})
    return out


def _import_annotations(
    s: Session, project_id: int, ids: dict[str, int],
    annotations: Sequence[PendingAnnotation], now: datetime,
) -> int:
    if not annotations:
        return 0
    source_ids: dict[tuple[str, str, str], int] = {}
    rows = []
    for a in annotations:
        key = (a.kind, a.name, a.version)
        if key not in source_ids:
            source_ids[key] = ensure_source_id(s, project_id, *key)
        value: dict[str, Any] = {}
        if a.labels is not None:
            value["labels"] = a.labels
        if a.boxes is not None:
            value["boxes"] = a.boxes
        rows.append(
            {
                "item_id": ids[a.content_hash],
                "source_id": source_ids[key],
                "label": a.label,
                "value": value,
                "confidence": a.confidence,
                "needs_review": a.needs_review,
                "seconds": None,
                "created_at": now,
            }
        )
    upsert_annotation_rows(s, rows)
    return len(rows)


class SqlItems(SqlBase):
    """:class:`~labelloop.storage.protocol.ItemRepository` over SQL."""

    def import_records(
        self,
        project_id: int,
        items: Sequence[ItemRecord],
        annotations: Sequence[PendingAnnotation] = (),
    ) -> ImportResult:
        """Add items and their annotations in one transaction (all or nothing).

        Items already stored (same content hash) are skipped, so importing the same
        rows twice adds nothing; their annotations are upserted.
        """
        result = ImportResult()
        with self.write() as s:
            hashes = list(dict.fromkeys(it.content_hash for it in items))
            existing = _ids_by_hash(s, project_id, hashes)
            now = utcnow()
            new_rows = []
            seen: set[str] = set()
            for it in items:
                if it.content_hash in existing or it.content_hash in seen:
                    result.skipped += 1
                    continue
                seen.add(it.content_hash)
                new_rows.append(
                    {
                        "project_id": project_id,
                        "content_hash": it.content_hash,
                        "external_id": it.external_id,
                        "data": it.data,
                        "meta": it.meta,
                        "split": it.split,
                        "width": it.width,
                        "height": it.height,
                        "created_at": now,
                    }
                )
            for chunk in chunks(new_rows):
                s.execute(insert(s, ItemRow).on_conflict_do_nothing(), list(chunk))
            result.added = len(new_rows)
            ids = _ids_by_hash(s, project_id, hashes)
            result.item_ids = [ids[h] for h in hashes]
            cq.add_items(s, [ids[h] for h in seen])
            result.annotations = _import_annotations(s, project_id, ids, annotations, now)
        return result

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
        """Store the active-learning priority of items (higher is labeled sooner)."""
        with self.write() as s:
            for item_id, p in priorities.items():
                s.execute(
                    update(ItemRow)
                    .where(ItemRow.project_id == project_id, ItemRow.id == item_id)
                    .values(priority=float(p))
                )
            cq.set_rank(s, project_id, priorities)

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
        self, model: str, item_ids: Sequence[int]
    ) -> tuple[list[int], npt.NDArray[np.float32]]:
        """Cached embeddings: the ids found (in the order asked) and their vectors."""
        found: dict[int, npt.NDArray[np.float32]] = {}
        with self.snapshot() as s:
            for chunk in chunks(list(item_ids)):
                q = select(EmbeddingRow).where(
                    EmbeddingRow.model == model, EmbeddingRow.item_id.in_(chunk)
                )
                for r in s.scalars(q):
                    found[r.item_id] = np.frombuffer(r.vector, dtype=np.float32)
        ids = [int(i) for i in item_ids if i in found]
        if not ids:
            return [], np.zeros((0, 0), dtype=np.float32)
        return ids, np.stack([found[i] for i in ids])
