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
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from labelloop.storage.models import Base

UNSURE = -1.0  # ``sure`` of an item without a confident-able model vote


class ItemStatsRow(Base):
    """An item's state, model coverage and review flags (only items with votes have a row).

    ``flags``: 1 a vote is flagged needs_review, 2 people disagree (no gold), 4 a person
    missed the gold answer, 8 the answers are label sets or boxes (or golds differ) and
    must be compared as answers; ``newest``: the newest vote other than gold.
    """

    __tablename__ = "item_stats"
    __table_args__ = (
        Index("ix_item_stats_project", "project_id", "state", "lm", "sure"),
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
