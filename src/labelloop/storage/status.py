"""Project status: items by split and state, annotations per source.

States come from ``item_stats`` (kept by triggers on the votes), splits from an index of
items, annotation counts per source from the source index: no read of every vote.
"""

from __future__ import annotations

from sqlalchemy import Integer, cast, func, select

from labelloop.storage import item_stats
from labelloop.storage.base import SqlBase
from labelloop.storage.models import AnnotationRow, ItemRow, SourceRow
from labelloop.storage.records import ITEM_STATES, SourceCount, StoreStatus


class SqlStatus(SqlBase):
    """:class:`~labelloop.storage.protocol.StatusRepository` over SQL."""

    def status(self, project_id: int) -> StoreStatus:
        """Counts of items by state and split, and of annotations by source."""
        with self.snapshot() as s:
            splits = {
                split: int(n) for split, n in s.execute(
                    select(ItemRow.split, func.count(ItemRow.id))
                    .where(ItemRow.project_id == project_id)
                    .group_by(ItemRow.split)
                ).all()
            }
            per_source = s.execute(
                select(SourceRow.kind, SourceRow.name, SourceRow.version,
                       func.count(AnnotationRow.id),
                       func.coalesce(func.sum(
                           cast(AnnotationRow.needs_review, Integer)), 0))
                .join(AnnotationRow, AnnotationRow.source_id == SourceRow.id, isouter=True)
                .where(SourceRow.project_id == project_id)
                .group_by(SourceRow.id, SourceRow.kind, SourceRow.name, SourceRow.version)
                .order_by(SourceRow.id)
            ).all()
            states, _, _ = item_stats.counts(s, project_id, threshold=1.0)
        total = sum(splits.values())
        states["unlabeled"] = total - sum(v for k, v in states.items() if k != "unlabeled")
        return StoreStatus(
            items=total,
            splits=splits,
            states={k: states.get(k, 0) for k in ITEM_STATES},
            sources=[SourceCount(k, n, v, int(c), int(r or 0)) for k, n, v, c, r in per_source],
        )
