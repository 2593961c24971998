"""Reads for the label page: an annotator's answers since a time, the project's progress,
and where an item stands in the claim queue; each one index range or one row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from labelloop.storage.base import SqlBase
from labelloop.storage.item_stats import SplitCountRow
from labelloop.storage.models import AnnotationRow, AssignmentRow, SourceRow
from labelloop.storage.server_models import ClaimQueueRow

Q = ClaimQueueRow


class SqlProgress(SqlBase):
    """:class:`~labelloop.storage.protocol.ProgressRepository` over SQL."""

    def answers_since(self, project_id: int, user_id: int, since: datetime) -> int:
        """Items the user answered (or changed an answer on) at or after ``since``: a range
        of ``ix_annotations_source_created`` per source of the user (one, as a rule)."""
        with self.snapshot() as s:
            mine = select(SourceRow.id).where(SourceRow.project_id == project_id,
                                              SourceRow.user_id == user_id,
                                              SourceRow.kind == "human")
            return int(s.scalar(select(func.count()).select_from(AnnotationRow).where(
                AnnotationRow.source_id.in_(mine), AnnotationRow.created_at >= since)) or 0)

    def queue_progress(self, project_id: int) -> tuple[int, int]:
        """``(done, total)`` of the project's items: done ones were answered as often as
        the overlap asks (full in the claim queue, and not only through an open claim).

        Gold items count like the others, so a reviewer's decision (a new gold answer)
        changes neither number. The full items are ranges of ``ix_claim_queue_next`` (and
        the open claims), the total comes from ``split_counts`` (every item has its queue
        row from its import on), not from counting the whole queue.
        """
        def count(*where: Any) -> Any:
            return sum(select(func.count()).select_from(Q).where(
                Q.project_id == project_id, Q.gold.is_(gold), *where).scalar_subquery()
                for gold in (False, True))

        claimed = (select(func.count(func.distinct(AssignmentRow.item_id)))
                   .join(Q, Q.item_id == AssignmentRow.item_id)
                   .where(AssignmentRow.project_id == project_id,
                          AssignmentRow.state == "claimed", Q.has_room.is_(False)))
        total = (select(func.coalesce(func.sum(SplitCountRow.items), 0))
                 .where(SplitCountRow.project_id == project_id))
        with self.snapshot() as s:
            full, in_hand, n = s.execute(select(
                count(Q.has_room.is_(False)), claimed.scalar_subquery(),
                total.scalar_subquery())).one()
        return int(full) - int(in_hand), int(n)

    def queue_entry(self, item_id: int) -> tuple[bool, float | None] | None:
        """Whether an item is gold, and its priority (None: not ranked); None for an item
        not in the claim queue."""
        with self.snapshot() as s:
            row = s.execute(select(Q.gold, Q.unranked, Q.sort_key)
                            .where(Q.item_id == item_id)).first()
        if row is None:
            return None
        return bool(row.gold), None if row.unranked else -float(row.sort_key)

    def queued_priority(self, project_id: int, position: int) -> float | None:
        """The priority of the regular item at ``position`` (0: the next one) among those
        that need annotators, in queue order (None: not ranked, or no such item)."""
        with self.snapshot() as s:
            row = s.execute(
                select(Q.unranked, Q.sort_key)
                .where(Q.project_id == project_id, Q.gold.is_(False), Q.has_room.is_(True))
                .order_by(Q.unranked, Q.sort_key, Q.item_id)
                .offset(position).limit(1)).first()
        return None if row is None or row.unranked else -float(row.sort_key)
