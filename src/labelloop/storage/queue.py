"""Queue repository: race-free task claiming, and what each user did with the queue.

An item is *taken* by its human annotations plus its open claims; it may be claimed only
while ``taken < overlap + extra_overlap``. The next item for a user is the first entry of
the index ``ix_claim_queue_next`` (project, gold, has room, priority order) that the user
has not claimed, skipped or labeled: a claim reads a handful of index entries, whatever
the size of the project (see :mod:`labelloop.storage.claim_queue`). The chosen item is then
re-counted from the annotations and claims themselves before the claim is written, so the
denormalised row only finds candidates and never decides alone:

* on SQLite the whole claim runs in ``BEGIN IMMEDIATE``, so claims are serialised;
* on PostgreSQL the candidate queue row is locked with ``FOR UPDATE SKIP LOCKED`` (two
  claimers never wait on, nor both take, the same row) and the guard re-counts under
  that lock in a fresh ``READ COMMITTED`` statement. When every free row is locked by
  other claimers at that instant, the claim retries briefly instead of reporting an
  empty queue.

A partial unique index (migration 0002) also forbids two open claims of one user on one
item. Claims past ``expires_at`` are marked ``expired`` before every claim, which returns
their items to the queue.

The claim and the annotator's submit are written in :mod:`labelloop.storage.task_path`
(one transaction each, statements built once); this module wraps them as repository
methods and keeps the rest of the queue's bookkeeping.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from labelloop.core.records import AnnotationRecord
from labelloop.storage import claim_queue as cq
from labelloop.storage import task_path as tp
from labelloop.storage.annotations import check_owned
from labelloop.storage.base import SqlBase, aware, chunks
from labelloop.storage.claim_queue import Q
from labelloop.storage.models import AnnotationRow, AssignmentRow, SourceRow, utcnow
from labelloop.storage.records import Claim
from labelloop.storage.task_path import ClaimedTask, Parse, Route, Submitted
from labelloop.storage.vote_rows import annotation_rows, upsert_annotation_rows


def user_sources(s: Session, project_id: int, user_id: int) -> list[int]:
    """Ids of the user's human sources in the project (usually one)."""
    return list(s.scalars(select(SourceRow.id).where(
        SourceRow.project_id == project_id, SourceRow.user_id == user_id,
        SourceRow.kind == "human")))


def _has_room(s: Session, item_id: int, overlap: int) -> bool:
    """Re-count an item from annotations, claims and send-backs (the guard)."""
    taken = s.scalar(select(cq.humans(item_id) + cq.open_claims(item_id)))
    return int(taken or 0) < overlap + int(s.scalar(select(cq.extra_overlap(item_id))) or 0)


def _expire_claims(s: Session, project_id: int, now: datetime) -> int:
    """Mark claims past their expiry as ``expired``; return how many."""
    items = list(s.scalars(
        update(AssignmentRow)
        .where(AssignmentRow.project_id == project_id, AssignmentRow.state == "claimed",
               AssignmentRow.expires_at < now)
        .values(state="expired")
        .returning(AssignmentRow.item_id)
    ))
    cq.refresh(s, items)
    return len(items)


def _is_gold(s: Session, item_id: int) -> bool:
    return bool(s.scalar(select(Q.gold).where(Q.item_id == item_id)))


def _claim(s: Session, row: AssignmentRow) -> Claim:
    return Claim(row.id, row.item_id, row.user_id, aware(row.claimed_at),
                 aware(row.expires_at), _is_gold(s, row.item_id))


def _insert_claim(
    s: Session, project_id: int, user_id: int, item_id: int, minutes: int, now: datetime,
    *, gold: bool,
) -> Claim | None:
    """Write a claim on an item whose queue row the caller holds; None if the user has one.

    A user's earlier skipped (or closed) assignment of the item is reopened rather than
    doubled, so one user never holds two live assignments of one item.
    """
    earlier = s.scalars(select(AssignmentRow).where(
        AssignmentRow.item_id == item_id, AssignmentRow.user_id == user_id,
        AssignmentRow.state != "expired").order_by(AssignmentRow.id)).all()
    if any(r.state == "claimed" for r in earlier):
        return None
    expires = now + timedelta(minutes=minutes)
    if earlier:
        row = earlier[-1]
        row.claimed_at, row.expires_at, row.state = now, expires, "claimed"
    else:
        row = AssignmentRow(project_id=project_id, item_id=item_id, user_id=user_id,
                            claimed_at=now, expires_at=expires, state="claimed")
        s.add(row)
    s.flush()
    cq.refresh(s, [item_id])
    return Claim(row.id, item_id, user_id, now, aware(row.expires_at), gold)


def _gold_before_claim(project_id: int) -> Any:
    """An assignment's item had a gold answer when it was claimed (an EXISTS clause)."""
    return (
        select(AnnotationRow.id).join(SourceRow, SourceRow.id == AnnotationRow.source_id)
        .where(SourceRow.project_id == project_id, SourceRow.kind == "gold",
               AnnotationRow.item_id == AssignmentRow.item_id,
               AnnotationRow.created_at <= AssignmentRow.claimed_at)
        .exists()
    )

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
            return _claim(s, row)

    def claim_next(
        self, project_id: int, user_id: int, *, overlap: int, minutes: int,
        honeypot: bool = False, now: datetime | None = None, route: Route = "any",
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
        route:
            Which items the user may take under the project's routing
            (:data:`~labelloop.storage.task_path.ROUTES`): ``"any"``, ``"expert"`` (hard
            items first) or ``"regular"`` (never a hard item).

        Returns
        -------
        Claim or None
            None when the queue holds nothing more for this user.
        """
        return tp.claim(self, project_id, user_id, overlap=overlap, minutes=minutes,
                        honeypot=honeypot, now=now or utcnow(), route=route)

    def claim_task(
        self, project_id: int, user_id: int, *, overlap: int, minutes: int,
        honeypot: bool = False, now: datetime | None = None, route: Route = "any",
    ) -> ClaimedTask | None:
        """:meth:`claim_next`, and the claimed item with its votes of the kinds an
        annotator's task is built from, in the same transaction."""
        return tp.claim_task(self, project_id, user_id, overlap=overlap, minutes=minutes,
                             honeypot=honeypot, now=now or utcnow(), route=route)

    def submit_task(
        self, project_id: int, user_id: int, user_name: str, item_id: int, parse: Parse,
        *, seconds: float | None, max_seconds: float, overlap: int, minutes: int,
        now: datetime | None = None,
    ) -> Submitted | None:
        """Check and store a user's answer to an item in one transaction (see
        :func:`labelloop.storage.task_path.submit_task`); None when the claim expired and
        the item went to others."""
        return tp.submit_task(self, project_id, user_id, user_name, item_id, parse,
                              seconds=seconds, max_seconds=max_seconds, overlap=overlap,
                              minutes=minutes, now=now or utcnow())

    def claim_item(
        self, project_id: int, user_id: int, item_id: int, *, overlap: int, minutes: int,
        now: datetime | None = None,
    ) -> Claim | None:
        """Claim one given item (e.g. to resubmit after a claim expired), if it has room."""
        now = now or utcnow()
        with self.write() as s:
            _expire_claims(s, project_id, now)
            q = select(Q.gold).where(Q.project_id == project_id, Q.item_id == item_id)
            if self.dialect == "postgresql":
                q = q.with_for_update()
            gold = s.scalar(q)
            if gold is None or (not gold and not _has_room(s, item_id, overlap)):
                return None
            return _insert_claim(s, project_id, user_id, item_id, minutes, now, gold=gold)

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
                q = select(Q.gold).where(Q.project_id == project_id, Q.item_id == item_id)
                if self.dialect == "postgresql":
                    q = q.with_for_update()
                gold = bool(s.scalar(q))
                if (not gold and not _has_room(s, item_id, overlap)) or _insert_claim(
                        s, project_id, user_id, item_id, minutes, now, gold=gold) is None:
                    return False
            s.execute(update(AssignmentRow).where(*mine).values(state="submitted"))
            upsert_annotation_rows(s, annotation_rows([record]))  # refreshes the queue row
            return True

    def available_items(self, project_id: int, user_id: int, *, overlap: int,
                        limit: int | None = None) -> int:
        """How many regular items the queue could still give this user right now; with
        ``limit``, at most that many.

        The items with room are counted from the queue's index (``has_room``, when the
        flags were computed with ``overlap``), stopping after ``limit`` plus the user's
        own; the items the user claimed, skipped or answered are looked up by id. So
        with a ``limit`` the cost follows the user's work and the limit, not the project.
        """
        with self.snapshot() as s:
            sources = user_sources(s, project_id, user_id)
            touched = set(s.scalars(select(AssignmentRow.item_id).where(
                AssignmentRow.project_id == project_id, AssignmentRow.user_id == user_id,
                AssignmentRow.state != "expired")))
            for chunk in chunks(sources):
                touched.update(s.scalars(select(AnnotationRow.item_id)
                                         .where(AnnotationRow.source_id.in_(chunk))))
            room = (Q.has_room == True if cq.recorded_overlap(s, project_id) == overlap  # noqa: E712
                    else Q.taken < overlap + Q.extra)
            free = (Q.project_id == project_id, Q.gold == False, room)  # noqa: E712 (SQL)
            mine = sum(int(s.scalar(select(func.count()).select_from(Q).where(
                *free, Q.item_id.in_(chunk))) or 0) for chunk in chunks(sorted(touched)))
            rows = select(Q.item_id).where(*free)
            if limit is not None:
                rows = rows.limit(limit + mine)
            n = int(s.scalar(select(func.count()).select_from(rows.subquery())) or 0) - mine
        return n if limit is None else min(n, limit)

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
            cq.refresh(s, [item_id])

    def last_submitted(self, project_id: int, user_id: int, *, before: int | None = None
                       ) -> int | None:
        """The regular item the user submitted last, or last before submitting item
        ``before``. An item that had a gold answer when the user claimed it (a honeypot) is
        never offered; gold added later (a review) changes nothing, so the answer does not
        reveal it."""
        honeypot = _gold_before_claim(project_id)
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

    def was_honeypot(self, project_id: int, user_id: int, item_id: int) -> bool:
        """Whether the item had a gold answer when the user claimed it (a honeypot for
        them); gold added after the claim (a reviewer's decision) does not count."""
        with self.snapshot() as s:
            return bool(s.scalar(select(
                select(AssignmentRow.id).where(
                    AssignmentRow.project_id == project_id, AssignmentRow.user_id == user_id,
                    AssignmentRow.item_id == item_id, _gold_before_claim(project_id))
                .exists())))

    def assignment_counts(self, project_id: int, user_id: int) -> dict[str, int]:
        """Distinct items per assignment state (``submitted``, ``skipped``, ...) of a user."""
        with self.snapshot() as s:
            rows = s.execute(
                select(AssignmentRow.state, func.count(func.distinct(AssignmentRow.item_id)))
                .where(AssignmentRow.project_id == project_id, AssignmentRow.user_id == user_id)
                .group_by(AssignmentRow.state)
            ).all()
        return {state: int(n) for state, n in rows}
