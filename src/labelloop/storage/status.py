"""Project status: items by split and state, annotations per source."""

from __future__ import annotations

from collections import Counter, defaultdict

from sqlalchemy import Integer, cast, func, select

from labelloop.core.records import SourceKind
from labelloop.storage.base import SqlBase
from labelloop.storage.models import AnnotationRow, ItemRow, SourceRow
from labelloop.storage.records import ITEM_STATES, SourceCount, StoreStatus


def item_state(marks: set[str]) -> str:
    """Gold, else human, else the label model's verdict, else any draft's.

    ``marks`` holds the kinds of the sources that annotated the item, ``KIND:review`` for
    annotations flagged ``needs_review``.
    """
    if any(m.startswith(SourceKind.GOLD) for m in marks):
        return "gold"
    if any(m.startswith(SourceKind.HUMAN) for m in marks):
        return "human"
    if "label_model:review" in marks:
        return "needs_review"
    if SourceKind.LABEL_MODEL in marks:
        return "auto"
    if any(m.endswith(":review") for m in marks):
        return "needs_review"
    if marks & {SourceKind.MODEL, SourceKind.LABELING_FUNCTION}:
        return "auto"
    return "unlabeled"


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
            kinds_per_item = s.execute(
                select(AnnotationRow.item_id, SourceRow.kind, AnnotationRow.needs_review)
                .join(SourceRow, SourceRow.id == AnnotationRow.source_id)
                .where(SourceRow.project_id == project_id)
            ).all()
        total = sum(splits.values())
        by_item: dict[int, set[str]] = defaultdict(set)
        for item_id, kind, review in kinds_per_item:
            by_item[item_id].add(f"{kind}:review" if review else kind)
        states: Counter[str] = Counter()
        for marks in by_item.values():
            states[item_state(marks)] += 1
        states["unlabeled"] = total - sum(states.values())
        return StoreStatus(
            items=total,
            splits=splits,
            states={k: states.get(k, 0) for k in ITEM_STATES},
            sources=[SourceCount(k, n, v, int(c), int(r or 0)) for k, n, v, c, r in per_source],
        )
