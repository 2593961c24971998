"""Project status: items by split and state, annotations per source.

States come from ``item_stats`` and annotation counts per source from ``source_stats``
(both kept by triggers on the votes), splits from an index of items: no read of a vote.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from labelloop.core.records import SPLITS
from labelloop.storage.base import SqlBase
from labelloop.storage.item_stats import ItemStatsRow, SourceStatsRow
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
            splits = _split_counts(s, project_id)
            per_source = s.execute(
                select(SourceRow.kind, SourceRow.name, SourceRow.version,
                       func.coalesce(SourceStatsRow.votes, 0),
                       func.coalesce(SourceStatsRow.flagged, 0))
                .outerjoin(SourceStatsRow, SourceStatsRow.source_id == SourceRow.id)
                .where(SourceRow.project_id == project_id)
                .order_by(SourceRow.id)
            ).all()
            states, lm, saved = _state_counts(s, project_id, threshold)
        total = sum(splits.values())
        states["unlabeled"] = total - sum(v for k, v in states.items() if k != "unlabeled")
        return StoreStatus(
            items=total,
            splits=splits,
            states={k: states.get(k, 0) for k in ITEM_STATES},
            sources=[SourceCount(k, n, v, int(c), int(r or 0)) for k, n, v, c, r in per_source],
        ), lm, saved


# Each count below is one range of an index counted by the database (``count(*)`` of
# ``project, split`` or ``project, state, lm[, sure >= t]``): several times faster than
# one grouped walk that evaluates sums row by row; all in one statement.

def _split_counts(s: Session, project_id: int) -> dict[str, int]:
    """Items per split (splits without items left out)."""
    i = ItemRow
    counts = s.execute(select(*[
        select(func.count()).select_from(i)
        .where(i.project_id == project_id, i.split == split).scalar_subquery()
        for split in SPLITS
    ])).one()
    return {split: int(n) for split, n in zip(SPLITS, counts, strict=True) if n}


def _state_counts(s: Session, project_id: int, threshold: float
                  ) -> tuple[Counter[str], int, int]:
    """Items with votes by state; items a label model or labeling function voted on; items
    no person answered that a model answered with confidence ``>= threshold``."""
    r = ItemStatsRow
    states = ITEM_STATES[:-1]  # "unlabeled" items have no row
    unsure = ("needs_review", "auto")  # states in which no person answered

    def count(state: str, lm: int, *, sure: bool = False) -> Any:
        q = select(func.count()).select_from(r).where(
            r.project_id == project_id, r.state == state, r.lm == lm)
        return (q.where(r.sure >= threshold) if sure else q).scalar_subquery()

    keys = [(state, lm, False) for state in states for lm in (0, 1)]
    keys += [(state, lm, True) for state in unsure for lm in (0, 1)]
    counts = s.execute(select(*[count(st, lm, sure=sure) for st, lm, sure in keys])).one()
    by_state: Counter[str] = Counter()
    with_lm = saved = 0
    for (state, lm, sure), n in zip(keys, counts, strict=True):
        if sure:
            saved += int(n)
        else:
            by_state[state] += int(n)
            with_lm += int(n) if lm else 0
    return by_state, with_lm, saved
