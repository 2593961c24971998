"""Per-item vote summary (``item_stats``) kept by triggers, so counts never read votes.

One row per item that has votes: its state (gold, human, needs_review, auto), whether a
label model or labeling function voted, the highest confidence of a model's or label
model's vote not flagged for review, and why a reviewer may need to see it. Database
triggers on ``annotations`` (migration 0008) recompute an item's row from its own votes in
the transaction that writes them, whoever writes (import, submit, review, labeling
functions), so the status, the dashboard and ``labelloop status`` count one index range
instead of every vote, and the review queue walks the flagged items in id order. On
PostgreSQL the trigger first locks the items' ``claim_queue`` rows in id order (as
:func:`labelloop.storage.claim_queue.refresh` does) and recounts in a later statement, so
two transactions writing votes on one item cannot leave a stale summary.

A bulk write of votes (:func:`bulk_votes`: an import, labeling-function votes, a posterior)
goes around the SQLite row triggers, which would recompute an item's summary once per vote,
and brings both tables up to date for the items it wrote in a few set-based statements
instead (migration 0009).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime

import numpy as np
import numpy.typing as npt
from sqlalchemy import (
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    bindparam,
    text,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from labelloop.storage.base import rebuilt_indexes
from labelloop.storage.models import Base

UNSURE = -1.0  # ``sure`` of an item without a confident-able model vote
BULK_ROWS = 500
"""Vote writes of at least this many rows go around the SQLite row triggers."""
GAP = 256
"""Item ids further apart than this are recounted as separate id ranges."""


class ItemStatsRow(Base):
    """An item's state, model coverage and review flags (only items with votes have a row).

    ``flags``: 1 a vote is flagged needs_review, 2 people disagree (no gold), 4 a person
    missed the gold answer, 8 the answers are label sets or boxes (or golds differ) and
    must be compared as answers; ``newest``: the newest vote other than gold; ``mstate``:
    the state without the votes of people and gold sources (``needs_review``, ``auto``, or
    ``none`` when only people voted), equal to ``state`` on items no person answered
    (migration 0020).
    """

    __tablename__ = "item_stats"
    __table_args__ = (
        Index("ix_item_stats_project", "project_id", "state", "mstate", "lm", "sure",
              "flags"),
        Index("ix_item_stats_flagged", "project_id", "item_id",
              sqlite_where=text("flags > 0"), postgresql_where=text("flags > 0")),
    )

    item_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(20))
    lm: Mapped[int] = mapped_column(Integer)
    sure: Mapped[float] = mapped_column(Float)
    flags: Mapped[int] = mapped_column(Integer)
    newest: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    mstate: Mapped[str] = mapped_column(String(20), server_default="none")


class SourceStatsRow(Base):
    """A source's votes, flagged votes, and how many times its votes were written.

    Kept by the same triggers, so ``changes`` of a project's sources together are a
    version of its votes: equal numbers, the same votes. A writer locks only the rows of
    the sources it writes (an annotator's own, a model's), never a project-wide row.
    """

    __tablename__ = "source_stats"

    source_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    changes: Mapped[int] = mapped_column(Integer)
    votes: Mapped[int] = mapped_column(Integer)
    flagged: Mapped[int] = mapped_column(Integer)


class SplitCountRow(Base):
    """A project's items in one split, kept by triggers on ``items`` (migration 0020; no
    foreign key: a deleted project's items are counted out after its row went)."""

    __tablename__ = "split_counts"

    project_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    split: Mapped[str] = mapped_column(String(20), primary_key=True)
    items: Mapped[int] = mapped_column(Integer)


class BulkWriteRow(Base):
    """Present only inside a transaction doing a bulk vote write (never committed): while it
    is, the SQLite summary triggers do nothing (migration 0009)."""

    __tablename__ = "bulk_writes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)


# -- the summary rule, as set-based SQL (the triggers of migration 0008 apply the same) -----
_REVIEW = "a.needs_review = true"


def _has(cond: str) -> str:
    return f"max(CASE WHEN {cond} THEN 1 ELSE 0 END) = 1"


def _labels(kinds: str) -> str:
    return f"count(DISTINCT CASE WHEN s.kind IN ({kinds}) THEN coalesce(a.label, -1) END)"


_STATE = " ".join(f"WHEN {_has(cond)} THEN '{name}'" for cond, name in (
    ("s.kind = 'gold'", "gold"),
    ("s.kind = 'human'", "human"),
    (f"s.kind = 'label_model' AND {_REVIEW}", "needs_review"),
    ("s.kind = 'label_model'", "auto"),
    (_REVIEW, "needs_review"),
))
_PEOPLE = "('human', 'gold')"
_LM = "s.kind = 'label_model'"
_MODEL = f"s.kind NOT IN {_PEOPLE}"
_MSTATE = (  # the state without people's votes (see ItemStatsRow.mstate)
    f"CASE WHEN {_has(_LM + ' AND ' + _REVIEW)} THEN 'needs_review'"
    f" WHEN {_has(_LM)} THEN 'auto'"
    f" WHEN {_has(_MODEL + ' AND ' + _REVIEW)} THEN 'needs_review'"
    f" WHEN {_has(_MODEL)} THEN 'auto' ELSE 'none' END")
_GOLDS = "sum(CASE WHEN s.kind = 'gold' THEN 1 ELSE 0 END)"
_HUMANS = "sum(CASE WHEN s.kind = 'human' THEN 1 ELSE 0 END)"
_PLAIN = ("min(CASE WHEN s.kind IN ('human', 'gold') AND length(CAST(a.value AS TEXT)) > 2"
          " THEN 0 ELSE 1 END) = 1")
_H, _G, _HG = _labels("'human'"), _labels("'gold'"), _labels("'human', 'gold'")
_FLAGS = (  # see ItemStatsRow.flags
    f"CASE WHEN {_has(_REVIEW)} THEN 1 ELSE 0 END"
    f" + CASE WHEN {_GOLDS} = 0 AND {_H} > 1 THEN 2 ELSE 0 END"
    f" + CASE WHEN {_GOLDS} > 0 AND {_HUMANS} > 0 AND {_G} = 1 AND {_HG} > 1"
    " THEN 4 ELSE 0 END"
    f" + CASE WHEN (NOT ({_PLAIN}) AND {_GOLDS} + {_HUMANS} > 1) OR ({_GOLDS} > 0"
    f" AND {_HUMANS} > 0 AND {_G} > 1) THEN 8 ELSE 0 END"
)
_IN_RANGE = "a.item_id BETWEEN :lo AND :hi"
_DROP = text("DELETE FROM item_stats WHERE item_id BETWEEN :lo AND :hi")
_SUMMARIZE = text(
    "INSERT INTO item_stats (item_id, project_id, state, lm, sure, flags, newest, mstate)"
    f" SELECT a.item_id, max(s.project_id), CASE {_STATE} ELSE 'auto' END,"
    " max(CASE WHEN s.kind IN ('label_model', 'labeling_function') THEN 1 ELSE 0 END),"
    " max(CASE WHEN s.kind IN ('label_model', 'model') AND NOT coalesce(a.needs_review,"
    f" false) THEN coalesce(a.confidence, 0.0) ELSE -1.0 END), {_FLAGS},"
    f" max(CASE WHEN s.kind <> 'gold' THEN a.created_at END), {_MSTATE}"
    " FROM annotations a JOIN sources s ON s.id = a.source_id"
    f" WHERE {_IN_RANGE} GROUP BY a.item_id")
_VOTES = text(
    "SELECT a.source_id, count(*), sum(CASE WHEN a.needs_review THEN 1 ELSE 0 END)"
    f" FROM annotations a WHERE {_IN_RANGE} AND +a.source_id IN :sources"
    " GROUP BY a.source_id").bindparams(bindparam("sources", expanding=True))
_ADD = text(
    "INSERT INTO source_stats (source_id, changes, votes, flagged)"
    " VALUES (:source_id, :changes, :votes, :flagged) ON CONFLICT (source_id) DO UPDATE SET"
    " changes = source_stats.changes + excluded.changes,"
    " votes = source_stats.votes + excluded.votes,"
    " flagged = source_stats.flagged + excluded.flagged")


def id_ranges(item_ids: npt.ArrayLike) -> list[tuple[int, int]]:
    """The ids as ``(first, last)`` ranges: sorted, split where two ids lie more than
    :data:`GAP` apart (a range may hold ids that were not given)."""
    ids = np.unique(np.asarray(item_ids, dtype=np.int64).reshape(-1))
    if ids.size == 0:
        return []
    cuts = np.flatnonzero(np.diff(ids) > GAP) + 1
    return [(int(run[0]), int(run[-1])) for run in np.split(ids, cuts)]


def _votes(s: Session, ranges: list[tuple[int, int]], sources: list[int]
           ) -> Counter[tuple[int, str]]:
    out: Counter[tuple[int, str]] = Counter()
    for lo, hi in ranges:
        for sid, n, flagged in s.execute(_VOTES, {"lo": lo, "hi": hi, "sources": sources}):
            out[(int(sid), "votes")] += int(n)
            out[(int(sid), "flagged")] += int(flagged or 0)
    return out


_STATS_INDEXES = ("ix_item_stats_project", "ix_item_stats_flagged", "ix_item_stats_sure")
REBUILD_ITEMS = 50_000
"""A bulk recount spanning at least this many item ids drops the summary's secondary
indexes and builds them again after (measured at 1M items: 9.4 s of CPU instead of 14.4)."""


@contextmanager
def bulk_votes(s: Session, item_ids: npt.ArrayLike, source_ids: Iterable[int], *,
               rows: int) -> Iterator[None]:
    """Write votes of ``source_ids`` on ``item_ids`` (``rows`` of them) inside the block
    without the per-row SQLite triggers, then bring the summaries up to date.

    Inside the block the caller may insert, update and delete votes of those sources on
    those items only. On leaving it: ``source_stats`` of each source gains the difference
    of its votes (and flagged votes) on the items' id ranges, counted before and after,
    and ``changes`` grows by both counts (so it moves whenever the source had votes
    there); ``item_stats`` of the items in those ranges is recomputed from their votes.
    All of it happens in the caller's transaction, which no other sees until it commits:
    the guard row of ``bulk_writes`` is deleted before. If the block raises, nothing is
    recounted and the caller's transaction must roll back (the guard row with it).

    Writes of fewer than :data:`BULK_ROWS` rows, and every write on PostgreSQL (whose
    triggers run once per statement, already set-based), keep the triggers: measured on
    a 50k-item posterior, the triggers take about half of PostgreSQL's upsert time, but a
    recount of the same items by id range costs about as much, so going around them
    gained about 10% there.
    """
    if rows < BULK_ROWS or s.get_bind().dialect.name != "sqlite":
        yield
        return
    ranges = id_ranges(item_ids)
    sources = sorted(set(source_ids))
    s.execute(text("INSERT INTO bulk_writes (id) VALUES (1)"))
    before = _votes(s, ranges, sources)
    yield
    after = _votes(s, ranges, sources)
    for sid in sources:
        old, new = before[(sid, "votes")], after[(sid, "votes")]
        if old or new:
            s.execute(_ADD, {"source_id": sid, "changes": old + new, "votes": new - old,
                             "flagged": after[(sid, "flagged")] - before[(sid, "flagged")]})
    span = sum(hi - lo + 1 for lo, hi in ranges)
    with rebuilt_indexes(s, _STATS_INDEXES) if span >= REBUILD_ITEMS else nullcontext():
        for lo, hi in ranges:
            s.execute(_DROP, {"lo": lo, "hi": hi})
            s.execute(_SUMMARIZE, {"lo": lo, "hi": hi})
    s.execute(text("DELETE FROM bulk_writes"))

