"""Review decisions repository: what reviewers decided, and send-backs to the queue."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select

from labelloop.storage import claim_queue as cq
from labelloop.storage.base import SqlBase, aware, chunks
from labelloop.storage.comments import ReviewRequestRow
from labelloop.storage.server_models import ItemQueueRow, ReviewDecisionRow


class SqlReviews(SqlBase):
    """:class:`~labelloop.storage.protocol.ReviewRepository` over SQL."""

    def record_decision(
        self, project_id: int, item_id: int, reviewer_id: int, decision: str,
        value: dict[str, Any], note: str, created_at: datetime,
    ) -> None:
        """Store a reviewer's decision (which closes the item's review request, if any);
        ``send_back`` asks one more annotator for the item."""
        with self.write() as s:
            s.add(ReviewDecisionRow(project_id=project_id, item_id=item_id,
                                    reviewer_id=reviewer_id, decision=decision, value=value,
                                    note=note, created_at=created_at))
            s.execute(delete(ReviewRequestRow).where(ReviewRequestRow.project_id == project_id,
                                                     ReviewRequestRow.item_id == item_id))
            if decision == "send_back":
                row = s.get(ItemQueueRow, item_id)
                if row is None:
                    s.add(ItemQueueRow(item_id=item_id, extra_overlap=1))
                else:
                    row.extra_overlap += 1
                s.flush()
                cq.refresh(s, [item_id])

    def send_back_note(self, project_id: int, item_id: int) -> str | None:
        """The note of the item's newest review decision if that decision sent it back
        (None when it did not, or had no note)."""
        d = ReviewDecisionRow
        q = (select(d.decision, d.note).where(d.item_id == item_id, d.project_id == project_id)
             .order_by(d.created_at.desc(), d.id.desc()).limit(1))
        with self.snapshot() as s:
            row = s.execute(q).first()
        if row is None or row.decision != "send_back" or not row.note:
            return None
        return str(row.note)

    def decision_times(self, project_id: int, item_ids: Sequence[int] | None = None
                       ) -> dict[int, datetime]:
        """When each reviewed item of the project (or of ``item_ids``) was last decided."""
        q = (select(ReviewDecisionRow.item_id, func.max(ReviewDecisionRow.created_at))
             .where(ReviewDecisionRow.project_id == project_id)
             .group_by(ReviewDecisionRow.item_id))
        out: dict[int, datetime] = {}
        with self.snapshot() as s:
            if item_ids is None:
                rows = s.execute(q).all()
            else:
                rows = [r for chunk in chunks(sorted(set(item_ids)))
                        for r in s.execute(q.where(ReviewDecisionRow.item_id.in_(chunk)))]
        out.update({int(item_id): aware(ts) for item_id, ts in rows})
        return out
