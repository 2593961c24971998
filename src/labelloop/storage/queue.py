"""Queue repository: race-free task claiming, and what each user did with the queue.

An item is *taken* by its human annotations plus its open claims; it may be claimed only
while ``taken < overlap + extra_overlap``. Claims are written by one guarded statement
(``INSERT ... SELECT ... WHERE taken < cap RETURNING id``):

* on SQLite the whole claim runs in ``BEGIN IMMEDIATE``, so claims are serialised;
* on PostgreSQL the candidate item row is locked with ``FOR UPDATE SKIP LOCKED`` (two
  claimers never wait on, nor both take, the same row) and the guard re-counts under
  that lock in a fresh ``READ COMMITTED`` statement. When every free row is locked by
  other claimers at that instant, the claim retries briefly instead of reporting an
  empty queue.

A partial unique index (migration 0002) also forbids two open claims of one user on one
item. Claims past ``expires_at`` are marked ``expired`` before every claim, which returns
their items to the queue.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, literal, select, update
from sqlalchemy.orm import Session

from labelloop.core.records import AnnotationRecord
from labelloop.storage.annotations import annotation_rows, check_owned, upsert_annotation_rows
from labelloop.storage.base import SqlBase, aware
from labelloop.storage.models import AnnotationRow, AssignmentRow, ItemRow, SourceRow, utcnow
from labelloop.storage.records import Claim
from labelloop.storage.server_models import ItemQueueRow

_RETRIES = 20



def _gold_items(project_id: int) -> Select[Any]:
    return (
        select(AnnotationRow.item_id)
        .join(SourceRow, SourceRow.id == AnnotationRow.source_id)
        .where(SourceRow.project_id == project_id, SourceRow.kind == "gold")
    )


def _touched_by(project_id: int, user_id: int) -> Any:
    """Items the user has claimed, skipped or labeled (never offered again)."""
    claimed = select(AssignmentRow.item_id).where(
        AssignmentRow.project_id == project_id, AssignmentRow.user_id == user_id,
        AssignmentRow.state != "expired",
    )
    labeled = (
        select(AnnotationRow.item_id)
        .join(SourceRow, SourceRow.id == AnnotationRow.source_id)
        .where(SourceRow.project_id == project_id, SourceRow.user_id == user_id,
               SourceRow.kind == "human")
    )
    return claimed.union(labeled)


def _taken(item_id: Any) -> Any:
    humans = (
        select(func.count(AnnotationRow.id))
        .join(SourceRow, SourceRow.id == AnnotationRow.source_id)
        .where(AnnotationRow.item_id == item_id, SourceRow.kind == "human")
        .scalar_subquery()
    )
    claims = (
        select(func.count(AssignmentRow.id))
        .where(AssignmentRow.item_id == item_id, AssignmentRow.state == "claimed")
        .scalar_subquery()
    )
    return humans + claims


def _cap(item_id: Any, overlap: int) -> Any:
    extra = (
        select(ItemQueueRow.extra_overlap).where(ItemQueueRow.item_id == item_id)
        .scalar_subquery()
    )
    return overlap + func.coalesce(extra, 0)


def _expire_claims(s: Session, project_id: int, now: datetime) -> int:
    """Mark claims past their expiry as ``expired``; return how many."""
    res = s.execute(
        update(AssignmentRow)
        .where(AssignmentRow.project_id == project_id, AssignmentRow.state == "claimed",
               AssignmentRow.expires_at < now)
        .values(state="expired")
    )
    return int(res.rowcount or 0)  # type: ignore[attr-defined]


def _claim(s: Session, project_id: int, row: AssignmentRow) -> Claim:
    gold = s.scalar(_gold_items(project_id).where(AnnotationRow.item_id == row.item_id).limit(1))
    return Claim(row.id, row.item_id, row.user_id, aware(row.claimed_at),
                 aware(row.expires_at), gold is not None)


def _candidate(
    s: Session, dialect: str, project_id: int, user_id: int, overlap: int, gold: bool
) -> int | None:
    golds = _gold_items(project_id)
    q = select(ItemRow.id).where(
        ItemRow.project_id == project_id,
        ItemRow.id.not_in(_touched_by(project_id, user_id)),
    )
    if gold:
        q = q.where(ItemRow.id.in_(golds)).order_by(func.random())
    else:
        q = q.where(
            ItemRow.id.not_in(golds), _taken(ItemRow.id) < _cap(ItemRow.id, overlap)
        ).order_by(ItemRow.priority.desc().nulls_last(), ItemRow.id)
    q = q.limit(1)
    if dialect == "postgresql":
        q = q.with_for_update(skip_locked=True, of=ItemRow)
    return s.scalar(q)


def _insert_claim(
    s: Session, project_id: int, user_id: int, item_id: int, overlap: int, minutes: int,
    now: datetime, *, capped: bool,
) -> Claim | None:
    expires = now + timedelta(minutes=minutes)
    already = select(AssignmentRow.id).where(
        AssignmentRow.item_id == item_id, AssignmentRow.user_id == user_id,
        AssignmentRow.state == "claimed",
    ).exists()
    guard = and_(ItemRow.id == item_id, ~already)
    if capped:
        guard = and_(guard, _taken(ItemRow.id) < _cap(ItemRow.id, overlap))
    source = select(
        literal(project_id), ItemRow.id, literal(user_id), literal(now), literal(expires),
        literal("claimed"),
    ).where(guard)
    stmt = (
        AssignmentRow.__table__.insert()  # type: ignore[attr-defined]
        .from_select(
            ["project_id", "item_id", "user_id", "claimed_at", "expires_at", "state"], source
        )
        .returning(AssignmentRow.id)
    )
    new_id = s.execute(stmt).scalar()
    if new_id is None:
        return None
    return Claim(int(new_id), item_id, user_id, now, expires, not capped)



class SqlClaims(SqlBase):
    """:class:`~labelloop.storage.protocol.QueueRepository` over SQL."""

    def open_claim(self, project_id: int, user_id: int, *, now: datetime | None = None
                   ) -> Claim | None:
        """The user's newest unexpired claim in the project, if any."""
        now = now or utcnow()
        with self.snapshot() as s:
            row = s.scalars(
                select(AssignmentRow)
                .where(AssignmentRow.project_id == project_id, AssignmentRow.user_id == user_id,
                       AssignmentRow.state == "claimed", AssignmentRow.expires_at >= now)
                .order_by(AssignmentRow.id.desc()).limit(1)
            ).first()
            if row is None:
                return None
            return _claim(s, project_id, row)

    def claim_next(
        self, project_id: int, user_id: int, *, overlap: int, minutes: int,
        honeypot: bool = False, now: datetime | None = None,
    ) -> Claim | None:
        """Claim the next item for a user, or return their open claim.

        Parameters
        ----------
        project_id, user_id:
            Who claims in which project.
        overlap:
            How many annotators label each regular item.
        minutes:
            How long the claim lasts before the item returns to the queue.
        honeypot:
            Draw from gold items the user has not seen (falls back to the regular queue
            when there is none).
        now:
            The current time (tests pass a fixed one).

        Returns
        -------
        Claim or None
            None when the queue holds nothing more for this user.
        """
        now = now or utcnow()
        with self.write() as s:
            _expire_claims(s, project_id, now)
            row = s.scalars(
                select(AssignmentRow)
                .where(AssignmentRow.project_id == project_id, AssignmentRow.user_id == user_id,
                       AssignmentRow.state == "claimed")
                .order_by(AssignmentRow.id.desc()).limit(1)
            ).first()
            if row is not None:
                return _claim(s, project_id, row)
            kinds = (True, False) if honeypot else (False,)
            for gold in kinds:
                for attempt in range(_RETRIES):
                    item_id = _candidate(s, self.dialect, project_id, user_id, overlap, gold)
                    if item_id is None:
                        if self.dialect == "postgresql" and _candidate(
                                s, "", project_id, user_id, overlap, gold) is not None:
                            time.sleep(0.01 * (attempt + 1))  # all free rows locked right now
                            continue
                        break
                    claim = _insert_claim(s, project_id, user_id, item_id, overlap, minutes,
                                          now, capped=not gold)
                    if claim is not None:
                        return claim
        return None

    def claim_item(
        self, project_id: int, user_id: int, item_id: int, *, overlap: int, minutes: int,
        now: datetime | None = None,
    ) -> Claim | None:
        """Claim one given item (e.g. to resubmit after a claim expired), if it has room."""
        now = now or utcnow()
        with self.write() as s:
            _expire_claims(s, project_id, now)
            gold = s.scalar(
                _gold_items(project_id).where(AnnotationRow.item_id == item_id).limit(1))
            q = select(ItemRow.id).where(ItemRow.project_id == project_id, ItemRow.id == item_id)
            if self.dialect == "postgresql":
                q = q.with_for_update()
            if s.scalar(q) is None:
                return None
            return _insert_claim(s, project_id, user_id, item_id, overlap, minutes, now,
                                 capped=gold is None)

    def submit_answer(
        self, project_id: int, user_id: int, record: AnnotationRecord, *, overlap: int,
        minutes: int, now: datetime | None = None,
    ) -> bool:
        """Store a user's answer and close their claim, checked and written in one
        transaction.

        The answer is stored when the user holds an unexpired claim on the item, answered
        it before, or the item still has room (then it is claimed on the spot); a claim
        that expired and went to others stores nothing and returns False.

        Raises
        ------
        NotFoundError
            If the item or the answer's source is not in this project.
        """
        now = now or utcnow()
        item_id = record.item_id
        with self.write() as s:
            _expire_claims(s, project_id, now)
            check_owned(s, project_id, [item_id], [record.source_id])
            mine = (AssignmentRow.project_id == project_id, AssignmentRow.user_id == user_id,
                    AssignmentRow.item_id == item_id, AssignmentRow.state == "claimed")
            held = s.scalar(select(AssignmentRow.id).where(*mine).limit(1))
            answered = s.scalar(select(AnnotationRow.id).where(
                AnnotationRow.item_id == item_id, AnnotationRow.source_id == record.source_id))
            if held is None and answered is None:
                gold = s.scalar(
                    _gold_items(project_id).where(AnnotationRow.item_id == item_id).limit(1))
                if self.dialect == "postgresql":
                    s.scalar(select(ItemRow.id).where(ItemRow.id == item_id).with_for_update())
                if _insert_claim(s, project_id, user_id, item_id, overlap, minutes, now,
                                 capped=gold is None) is None:
                    return False
            upsert_annotation_rows(s, annotation_rows([record]))
            s.execute(update(AssignmentRow).where(*mine).values(state="submitted"))
            return True

    def available_items(self, project_id: int, user_id: int, *, overlap: int) -> int:
        """How many regular items the queue could still give this user right now."""
        q = select(func.count(ItemRow.id)).where(
            ItemRow.project_id == project_id,
            ItemRow.id.not_in(_touched_by(project_id, user_id)),
            ItemRow.id.not_in(_gold_items(project_id)),
            _taken(ItemRow.id) < _cap(ItemRow.id, overlap),
        )
        with self.snapshot() as s:
            return int(s.scalar(q) or 0)

    def finish_claim(
        self, project_id: int, user_id: int, item_id: int, state: str,
        *, now: datetime | None = None,
    ) -> None:
        """Close the user's claims on an item as ``submitted`` or ``skipped``.

        A skip without a claim still records a ``skipped`` assignment so the item is not
        offered to the same user again.
        """
        now = now or utcnow()
        with self.write() as s:
            res = s.execute(
                update(AssignmentRow)
                .where(AssignmentRow.project_id == project_id, AssignmentRow.user_id == user_id,
                       AssignmentRow.item_id == item_id, AssignmentRow.state == "claimed")
                .values(state=state)
            )
            if not res.rowcount and state == "skipped":  # type: ignore[attr-defined]
                s.add(AssignmentRow(project_id=project_id, item_id=item_id, user_id=user_id,
                                    claimed_at=now, expires_at=now, state=state))

    def last_submitted(self, project_id: int, user_id: int, *, before: int | None = None
                       ) -> int | None:
        """The regular item the user submitted last, or last before submitting item
        ``before``. An item that had a gold answer when the user claimed it (a honeypot) is
        never offered; gold added later (a review) changes nothing, so the answer does not
        reveal it."""
        honeypot = (
            select(AnnotationRow.id).join(SourceRow, SourceRow.id == AnnotationRow.source_id)
            .where(SourceRow.project_id == project_id, SourceRow.kind == "gold",
                   AnnotationRow.item_id == AssignmentRow.item_id,
                   AnnotationRow.created_at <= AssignmentRow.claimed_at)
            .exists()
        )
        with self.snapshot() as s:
            q = (
                select(AssignmentRow.item_id)
                .where(AssignmentRow.project_id == project_id, AssignmentRow.user_id == user_id,
                       AssignmentRow.state == "submitted", ~honeypot)
                .order_by(AssignmentRow.id.desc()).limit(1)
            )
            if before is not None:
                mark = s.scalar(
                    select(func.max(AssignmentRow.id))
                    .where(AssignmentRow.project_id == project_id,
                           AssignmentRow.user_id == user_id, AssignmentRow.item_id == before,
                           AssignmentRow.state == "submitted")
                )
                if mark is not None:
                    q = q.where(AssignmentRow.id < mark)
            return s.scalar(q)

    def assignment_counts(self, project_id: int, user_id: int) -> dict[str, int]:
        """Distinct items per assignment state (``submitted``, ``skipped``, ...) of a user."""
        with self.snapshot() as s:
            rows = s.execute(
                select(AssignmentRow.state, func.count(func.distinct(AssignmentRow.item_id)))
                .where(AssignmentRow.project_id == project_id, AssignmentRow.user_id == user_id)
                .group_by(AssignmentRow.state)
            ).all()
        return {state: int(n) for state, n in rows}
