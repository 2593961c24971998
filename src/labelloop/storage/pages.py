"""Reads that serve one page: keyset item pages, flagged items, per-item votes, counts.

Every query here walks an index from a position (``item_id > after``) and stops after a
page, or aggregates in SQL, so a page of a project with a million items costs what a page
of a small one does. Migration 0008 adds the indexes they walk;
``tests/scale/test_explain.py`` fails when a plan scans ``items`` or ``annotations``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    Index,
    case,
    func,
    literal_column,
    select,
)
from sqlalchemy.orm import aliased

from labelloop.core.records import AnnotationRecord, ItemRecord, SourceKind
from labelloop.errors import ValidationError
from labelloop.storage.base import SqlBase, aware, chunks
from labelloop.storage.comments import ReviewRequestRow
from labelloop.storage.item_stats import ItemStatsRow, SourceStatsRow
from labelloop.storage.models import AnnotationRow, ItemRow, SourceRow
from labelloop.storage.records import Vote, item_record
from labelloop.storage.server_models import ReviewDecisionRow

MAX_PAGE = 10_000
ALL_FLAGS = 15  # every bit of item_stats.flags
NEEDS_REVIEW: Any = literal_column("'needs_review'")
REQUESTED = 16
"""The flag bit :meth:`SqlPages.flagged_items` adds for an item sent to review (never
stored in ``item_stats``: a review request is a row of its own)."""

# The indexes these reads walk (migration 0008 creates them).
Index("ix_items_project_id", ItemRow.project_id, ItemRow.id)
Index("ix_items_project_split", ItemRow.project_id, ItemRow.split)
Index("ix_review_decisions_project", ReviewDecisionRow.project_id, ReviewDecisionRow.id)



def review_flags() -> Any:
    """An item's review flags (``item_stats.flags``), where a flagged vote counts (bit 1)
    only while the item's state is ``needs_review``: once a person or gold answered it, or
    the label model accepted it under the current thresholds, a flagged draft no longer
    sends it to a reviewer. The same rule as the item states the progress figures count."""
    r = ItemStatsRow
    stale = (r.state != literal_column("'needs_review'")) & (r.flags.op("&")(1) != 0)
    return r.flags - case((stale, 1), else_=0)

class ItemFlags(NamedTuple):
    """Why an item may need a reviewer (the ``flags`` bits of ``item_stats``: 1 flagged
    draft, 2 disagreement, 4 honeypot miss, 8 compare the answers) and its newest vote
    other than gold."""

    item_id: int
    flags: int
    newest: datetime | None


class VotesVersion(NamedTuple):
    """Every source's write counter (``(source id, kind, changes)`` in id order), the
    project's review decisions (``(count, last id)``) and review requests (``(count, id
    sum, last id)``), read in one snapshot."""

    sources: tuple[tuple[int, str, int], ...]
    decisions: tuple[int, int]
    requests: tuple[int, int, int] = (0, 0, 0)

    def of(self, kinds: Iterable[str] | None = None) -> tuple[int, ...]:
        """What :meth:`SqlPages.votes_version` answers for ``kinds``."""
        if kinds is None:
            return (*(x for sid, _, n in self.sources for x in (sid, n)), *self.decisions,
                    *self.requests)
        wanted = set(kinds)
        return tuple(x for sid, kind, n in self.sources if kind in wanted for x in (sid, n))


def _check_page(after: int | None, limit: int) -> None:
    if after is not None and after < 0:
        raise ValidationError(f"expected after >= 0, got {after}")
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"expected 1 <= limit <= {MAX_PAGE}, got {limit}")


class SqlPages(SqlBase):
    """:class:`~labelloop.storage.protocol.PageRepository` over SQL."""

    def item_page(self, project_id: int, *, after: int | None = None, limit: int = 100,
                  split: str | None = None) -> list[ItemRecord]:
        """Items with an id above ``after`` (keyset), in id order, at most ``limit``.

        The next page starts after the last id of this one; unlike an offset, a deep page
        costs what the first does.
        """
        _check_page(after, limit)
        q = select(ItemRow).where(ItemRow.project_id == project_id)
        if after is not None:
            q = q.where(ItemRow.id > after)
        if split is not None:
            q = q.where(ItemRow.split == split)
        with self.snapshot() as s:
            return [item_record(r) for r in s.scalars(q.order_by(ItemRow.id).limit(limit))]

    def flagged_items(self, project_id: int, *, after: int = 0, limit: int = 500,
                      also: Sequence[int] = (), mask: int | None = None
                      ) -> tuple[list[ItemFlags], int | None]:
        """Items above ``after`` whose votes may need a reviewer, or that were sent to
        review, in id order, with their :func:`review_flags` (plus :data:`REQUESTED`).

        Walks the flagged items of ``item_stats`` (at most ``limit``; with ``mask``, only
        those with one of its flag bits, none for 0), adds the items of ``also`` (flagged
        or not) up to where the walk stopped, and answers them with that stop: the last id
        walked, or None when the walk reached the end.
        """
        _check_page(after, limit)
        r = ItemStatsRow
        flags = review_flags()
        cols = select(r.item_id, flags, r.newest).where(r.project_id == project_id)
        walk = (cols.where(r.flags > literal_column("0"),  # the partial index's term
                           flags != 0, r.item_id > after)
                .order_by(r.item_id).limit(limit))
        if mask is not None:
            walk = walk.where(flags.op("&")(mask) != 0)
        found: dict[int, ItemFlags] = {}
        with self.snapshot() as s:
            if mask != 0:
                for item_id, flags, newest in s.execute(walk):
                    found[item_id] = ItemFlags(item_id, flags,
                                               aware(newest) if newest else None)
            stop = max(found) if len(found) == limit else None
            asked: dict[int, datetime] = {}
            if mask is None or mask & REQUESTED:
                rq = ReviewRequestRow
                q = select(rq.item_id, rq.created_at).where(rq.project_id == project_id,
                                                            rq.item_id > after)
                if stop is not None:
                    q = q.where(rq.item_id <= stop)
                asked = {int(i): aware(t) for i, t in s.execute(q.order_by(rq.item_id)
                                                                 .limit(limit))}
                if len(asked) == limit and (stop is None or max(asked) < stop):
                    stop = max(asked)
                    found = {i: f for i, f in found.items() if i <= stop}
            extra = {i for i in also if i > after and (stop is None or i <= stop)}
            extra = (extra | set(asked)) - set(found)
            # by key alone: with the project in the query a planner walks the project's
            # rows of ix_item_stats_project instead (every item); ids are unique anyway
            by_id = select(r.item_id, flags, r.newest, r.project_id)
            for chunk in chunks(sorted(extra)):
                for item_id, flags, newest, pid in s.execute(by_id.where(r.item_id.in_(chunk))):
                    if pid == project_id:
                        found[item_id] = ItemFlags(item_id, flags,
                                                   aware(newest) if newest else None)
        for item_id, when in asked.items():  # requested: waits from the request on
            was = found.get(item_id)
            newest = max(when, was.newest) if was is not None and was.newest else when
            found[item_id] = ItemFlags(item_id, (was.flags if was else 0) | REQUESTED, newest)
        return [found[i] for i in sorted(found)], stop

    def count_flagged(self, project_id: int, *groups: tuple[int, int]) -> list[int]:
        """Flagged items waiting for a reviewer, counted in SQL, per group ``(any_of,
        none_of)``: the items of ``item_stats`` with one of the ``any_of`` flag bits
        (:func:`review_flags`) and none of ``none_of``, whose newest vote other than gold
        is newer than their last review decision (or that have none).

        Counted in three parts, none of which walks every flagged item:

        * items no person answered: those in state ``needs_review`` are exactly the ones
          whose :func:`review_flags` are 1 (a flagged draft; the other bits need a
          person's answer, and in state ``auto`` bit 1 does not count), so they are one
          range of ``ix_item_stats_project`` counted by the index alone;
        * less those of them decided since their newest vote, found from the project's
          decisions (``ix_review_decisions_project``), whatever the number of drafts;
        * items a person or gold answered (states ``human`` and ``gold``, a short range
          of the same index), each checked against the decisions' item index.
        """
        r, d = ItemStatsRow, ReviewDecisionRow
        decided = (select(d.id).where(d.item_id == r.item_id, d.created_at >= r.newest)
                   .exists())
        bit = review_flags().op("&")
        # no ``flags > 0`` term: it would let a planner walk the partial index of every
        # flagged item instead of the short range of answered ones
        answered = select(*[
            func.coalesce(func.sum(case(((bit(any_of) != 0) & (bit(none_of) == 0), 1),
                                        else_=0)), 0)
            for any_of, none_of in groups
        ]).select_from(r).where(
            r.project_id == project_id,
            r.state.in_((literal_column("'human'"), literal_column("'gold'"))),
            r.flags.op("&")(literal_column(str(ALL_FLAGS))) != literal_column("0"),  # index
            r.newest.is_not(None),
            ~decided,
        )
        drafts = (select(func.count()).select_from(r)
                  .where(r.project_id == project_id, r.state == NEEDS_REVIEW))
        decided_ids = select(d.item_id).where(d.project_id == project_id)
        decided_drafts = (select(func.count()).select_from(r)
                          .where(r.item_id.in_(decided_ids), r.state == NEEDS_REVIEW,
                                 r.newest.is_not(None), decided))
        with self.snapshot() as s:
            people = [int(n) for n in s.execute(answered).one()]
            if not any(any_of & 1 and not none_of & 1 for any_of, none_of in groups):
                return people
            waiting = int(s.scalar(drafts) or 0) - int(s.scalar(decided_drafts) or 0)
        return [n + (waiting if any_of & 1 and not none_of & 1 else 0)
                for n, (any_of, none_of) in zip(people, groups, strict=True)]

    def count_requested(self, project_id: int, none_of: int = 0) -> int:
        """Items sent to review (a review request, see
        :mod:`labelloop.storage.comments`), leaving out those :meth:`count_flagged` counts
        for the flag bits ``none_of`` (flagged with one of them, not decided since their
        newest vote).

        Two counts: the project's requests (its range of the requests' key), less those
        among the flagged items of ``item_stats`` (its partial index), each looked up by
        item."""
        rq, r, d = ReviewRequestRow, ItemStatsRow, ReviewDecisionRow
        with self.snapshot() as s:
            n = int(s.scalar(select(func.count()).select_from(rq)
                             .where(rq.project_id == project_id)) or 0)
            if not none_of or not n:
                return n
            decided = (select(d.id).where(d.item_id == r.item_id, d.created_at >= r.newest)
                       .exists())
            asked = (select(rq.item_id).where(rq.project_id == project_id,
                                              rq.item_id == r.item_id).exists())
            counted = s.scalar(select(func.count()).select_from(r).where(
                r.project_id == project_id, r.flags > literal_column("0"),
                review_flags().op("&")(none_of) != 0, r.newest.is_not(None), ~decided, asked))
            return n - int(counted or 0)

    def item_votes(self, project_id: int, item_ids: Sequence[int], *,
                   kinds: Iterable[str] | None = None) -> dict[int, list[Vote]]:
        """Votes on the given items only, by item, each in source id order."""
        out: dict[int, list[Vote]] = {int(i): [] for i in item_ids}
        q = _vote_columns(project_id)
        if kinds is not None:
            q = q.where(SourceRow.kind.in_(list(kinds)))
        with self.snapshot() as s:
            for chunk in chunks(sorted(out)):
                for r in s.execute(q.where(AnnotationRow.item_id.in_(chunk))):
                    out[r.item_id].append(Vote(r[0], r[1], r[2], _light_record(r)))
        return out

    def votes_where_kind(self, project_id: int, kinds: Iterable[str], *,
                         on_items_of: str | None = None,
                         user_id: int | None = None) -> list[Vote]:
        """Votes of some source kinds, by item then source id, read through the sources.

        ``on_items_of``: only on items that a source of this kind voted on;
        ``user_id``: only on items that this user answered (as a ``human`` source).
        The work is proportional to the votes returned, not to the project's items.
        """
        a = AnnotationRow
        q = _vote_columns(project_id).where(SourceRow.kind.in_(list(kinds)))
        if on_items_of is not None or user_id is not None:  # driven from those items
            other, other_src = aliased(AnnotationRow), aliased(SourceRow)
            items = (select(other.item_id)
                     .join(other_src, other_src.id == other.source_id)
                     .where(other_src.project_id == project_id))
            if on_items_of is not None:
                items = items.where(other_src.kind == on_items_of)
            if user_id is not None:
                items = items.where(other_src.kind == SourceKind.HUMAN,
                                    other_src.user_id == user_id)
            q = q.where(a.item_id.in_(items))
        with self.snapshot() as s:
            return [Vote(r[0], r[1], r[2], _light_record(r)) for r in s.execute(q)]

    def votes_of_sources(self, project_id: int, source_ids: Sequence[int]) -> list[Vote]:
        """Every vote of the given sources of the project, by item then source id (read
        through the sources' index: the work follows their votes, not the project)."""
        # from the votes' source index, sorted here: ordered in SQL, a planner may walk
        # every vote in item order instead
        q = _vote_columns(project_id).order_by(None).where(
            AnnotationRow.source_id.in_(sorted(set(source_ids))))
        with self.snapshot() as s:
            rows = sorted(s.execute(q), key=lambda r: (r.item_id, r.source_id))
        return [Vote(r[0], r[1], r[2], _light_record(r)) for r in rows]

    def votes_version(self, project_id: int, kinds: Iterable[str] | None = None
                      ) -> tuple[int, ...]:
        """A version of the project's votes, review decisions and review requests: it
        changes whenever a vote is written or deleted, a source is added, a decision
        recorded or an item sent to review (read from ``source_stats``, kept by
        triggers, the decisions' index and the requests'). With ``kinds``: of the votes
        of those source kinds only, decisions and requests left out."""
        return self.votes_versions(project_id).of(kinds)

    def votes_versions(self, project_id: int) -> VotesVersion:
        """Every source's write counter, the decisions' count and last id and the review
        requests' count, id sum and last id: the versions :meth:`votes_version` derives,
        for every kind of source at once."""
        q = (select(SourceRow.id, SourceRow.kind, func.coalesce(SourceStatsRow.changes, 0))
             .outerjoin(SourceStatsRow, SourceStatsRow.source_id == SourceRow.id)
             .where(SourceRow.project_id == project_id).order_by(SourceRow.id))
        with self.snapshot() as s:
            sources = tuple((int(sid), str(kind), int(n)) for sid, kind, n in s.execute(q))
            n, last = s.execute(
                select(func.count(ReviewDecisionRow.id), func.max(ReviewDecisionRow.id))
                .where(ReviewDecisionRow.project_id == project_id)
            ).one()
            rq = ReviewRequestRow.item_id  # read from the key (project_id, item_id) alone
            asked = s.execute(select(func.count(rq), func.coalesce(func.sum(rq), 0),
                                     func.coalesce(func.max(rq), 0))
                              .where(ReviewRequestRow.project_id == project_id)).one()
        return VotesVersion(sources, (int(n), int(last or 0)),
                            (int(asked[0]), int(asked[1]), int(asked[2])))


def _vote_columns(project_id: int) -> Any:
    """The columns of a vote (source kind, name, user; the annotation), by item, source."""
    a = AnnotationRow
    return (
        select(SourceRow.kind, SourceRow.name, SourceRow.user_id, a.id, a.item_id,
               a.source_id, a.label, a.value, a.confidence, a.needs_review, a.seconds,
               a.created_at)
        .join(a, a.source_id == SourceRow.id)
        .where(SourceRow.project_id == project_id)
        .order_by(a.item_id, SourceRow.id)
    )


def _light_record(r: Any) -> AnnotationRecord:
    """An annotation record from a stored row's columns (no ORM object in between)."""
    value = r.value or {}
    return AnnotationRecord(
        id=r.id, item_id=r.item_id, source_id=r.source_id, label=r.label,
        labels=value.get("labels"), boxes=value.get("boxes"), spans=value.get("spans"),
        probs=value.get("probs"),
        confidence=r.confidence, needs_review=bool(r.needs_review), seconds=r.seconds,
        created_at=r.created_at)
