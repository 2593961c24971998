"""Tables of the annotation server: login sessions, review decisions, per-item queue state,
project members, and the claim queue that serves "next item" from an index.

They share the declarative ``Base`` of :mod:`labelloop.storage.models`; migrations 0002,
0003 and 0005 create them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from labelloop.storage.models import AssignmentRow, Base, utcnow


class SessionRow(Base):
    """A browser login session; the cookie holds a random token, the table its SHA-256."""

    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ReviewDecisionRow(Base):
    """A reviewer's decision on an item: accept, correct or send back."""

    __tablename__ = "review_decisions"
    __table_args__ = (Index("ix_review_decisions_item", "item_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    decision: Mapped[str] = mapped_column(String(20))
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ItemQueueRow(Base):
    """Extra annotators an item needs beyond the project's overlap (set by send-back)."""

    __tablename__ = "item_queue"

    item_id: Mapped[int] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), primary_key=True
    )
    extra_overlap: Mapped[int] = mapped_column(Integer, default=0)


class ProjectMemberRow(Base):
    """A user admitted to a project; a project without members is open to every user."""

    __tablename__ = "project_members"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ClaimQueueRow(Base):
    """What the claim query reads about an item, kept in step in the writing transaction.

    ``taken`` is the item's human annotations plus open claims, ``extra`` its send-backs,
    ``has_room`` whether ``taken < overlap + extra`` for the overlap recorded in
    :class:`ClaimQueueProjectRow`; ``unranked`` and ``sort_key`` (minus the priority) give
    the order ``priority DESC NULLS LAST, id`` as ascending index columns; ``hard`` marks
    items the loop routes to the project's experts (setting ``routing``). A claim walks
    ``ix_claim_queue_next`` from its start and re-counts the chosen item from the source
    tables under a lock, so a stale row can delay an item but never over-assign it.
    """

    __tablename__ = "claim_queue"
    __table_args__ = (
        Index("ix_claim_queue_next", "project_id", "gold", "has_room", "hard", "unranked",
              "sort_key", "item_id"),
    )

    item_id: Mapped[int] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), primary_key=True
    )
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    gold: Mapped[bool] = mapped_column(Boolean, default=False)
    has_room: Mapped[bool] = mapped_column(Boolean, default=True)
    hard: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    unranked: Mapped[bool] = mapped_column(Boolean, default=True)
    sort_key: Mapped[float] = mapped_column(Float, default=0.0)
    taken: Mapped[int] = mapped_column(Integer, default=0)
    extra: Mapped[int] = mapped_column(Integer, default=0)


class ClaimQueueProjectRow(Base):
    """The overlap a project's ``claim_queue.has_room`` flags were computed with."""

    __tablename__ = "claim_queue_projects"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    overlap: Mapped[int] = mapped_column(Integer)


# Open claims by expiry (the expiry sweep before each claim reads only these).
Index("ix_assignments_project_state_expiry", AssignmentRow.project_id, AssignmentRow.state,
      AssignmentRow.expires_at)

# At most one open claim per (item, user): a row-level backstop of the claiming code.
Index(
    "uq_assignments_open_claim", AssignmentRow.item_id, AssignmentRow.user_id, unique=True,
    sqlite_where=text("state = 'claimed'"), postgresql_where=text("state = 'claimed'"),
)
