"""Project status: items by split and state, annotations per source.

States come from ``item_stats`` and annotation counts per source from ``source_stats``
(both kept by triggers on the votes), splits from an index of items: no read of a vote.
"""

from __future__ import annotations

from sqlalchemy import func, select

from labelloop.storage import item_stats
from labelloop.storage.base import SqlBase
from labelloop.storage.item_stats import SourceStatsRow
from labelloop.storage.models import ItemRow, SourceRow
from labelloop.storage.records import ITEM_STATES, SourceCount, StoreStatus


class SqlStatus(SqlBase):
    """:class:`~labelloop.storage.protocol.StatusRepository` over SQL."""

    def status(self, project_id: int) -> StoreStatus:
        """Counts of items by state and split, and of annotations by source."""
        return self.status_with_coverage(project_id, 1.0)[0]

    def status_with_coverage(self, project_id: int, threshold: float
                             ) -> tuple[StoreStatus, int, int]:
        """:meth:`status`, and in the same walk of ``item_stats`` the items a label model
        or labeling function voted on and the items no person answered that a model or
        label model answered with confidence ``>= threshold`` (not flagged)."""
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
                       func.coalesce(SourceStatsRow.votes, 0),
                       func.coalesce(SourceStatsRow.flagged, 0))
                .outerjoin(SourceStatsRow, SourceStatsRow.source_id == SourceRow.id)
                .where(SourceRow.project_id == project_id)
                .order_by(SourceRow.id)
            ).all()
            states, lm, saved = item_stats.counts(s, project_id, threshold)
        total = sum(splits.values())
        states["unlabeled"] = total - sum(v for k, v in states.items() if k != "unlabeled")
        return StoreStatus(
            items=total,
            splits=splits,
            states={k: states.get(k, 0) for k in ITEM_STATES},
            sources=[SourceCount(k, n, v, int(c), int(r or 0)) for k, n, v, c, r in per_source],
        ), lm, saved
