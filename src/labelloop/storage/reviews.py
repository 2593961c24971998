"""Review decisions repository: what reviewers decided, and send-backs to the queue."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from labelloop.storage import claim_queue as cq
from labelloop.storage.base import SqlBase, aware
from labelloop.storage.server_models import ItemQueueRow, ReviewDecisionRow


class SqlReviews(SqlBase):
    """:class:`~labelloop.storage.protocol.ReviewRepository` over SQL."""

    def record_decision(
        self, project_id: int, item_id: int, reviewer_id: int, decision: str,
        value: dict[str, Any], note: str, created_at: datetime,
    ) -> None:
        """Store a reviewer's decision; ``send_back`` asks one more annotator for the item."""
        with self.write() as s:
            s.add(ReviewDecisionRow(project_id=project_id, item_id=item_id,
                                    reviewer_id=reviewer_id, decision=decision, value=value,
                                    note=note, created_at=created_at))
            if decision == "send_back":
                row = s.get(ItemQueueRow, item_id)
                if row is None:
                    s.add(ItemQueueRow(item_id=item_id, extra_overlap=1))
                else:
                    row.extra_overlap += 1
                s.flush()
                cq.refresh(s, [item_id])

    def decision_times(self, project_id: int) -> dict[int, datetime]:
        """When each reviewed item of the project was last decided (with its zone)."""
        with self.snapshot() as s:
            rows = s.execute(
                select(ReviewDecisionRow.item_id, func.max(ReviewDecisionRow.created_at))
                .where(ReviewDecisionRow.project_id == project_id)
                .group_by(ReviewDecisionRow.item_id)
            ).all()
        return {int(item_id): aware(ts) for item_id, ts in rows}
