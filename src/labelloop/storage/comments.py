"""Comments on items and review requests (migration 0018).

A comment belongs to an item and its author; a reviewer's reply may be addressed to one
user (``reply_to``). Reading the comments of an item walks ``ix_item_comments_item``
(``item_id, id``), so a page costs the item's comments, whatever the project's size.
Whoever may read which comments is decided by the caller (``viewer_id`` narrows a read to
the comments a user wrote or that are addressed to them).

A review request marks an item for a reviewer (the data browser's "send to review"); it
lasts until a reviewer records a decision on the item. Its key ``(project_id, item_id)``
is the index every read of a project's requests walks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, Integer, Text, func, or_, select
from sqlalchemy.orm import Mapped, aliased, mapped_column

from labelloop.errors import NotFoundError
from labelloop.storage.base import SqlBase, aware, chunks
from labelloop.storage.models import Base, ItemRow, UserRow, utcnow

COMMENT_MAX = 2000
"""The longest comment stored, in characters (the service refuses longer ones)."""


class CommentRow(Base):
    """A comment on an item, by its author, maybe addressed to one user."""

    __tablename__ = "item_comments"
    __table_args__ = (Index("ix_item_comments_item", "item_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    reply_to: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReviewRequestRow(Base):
    """An item sent to review; removed when a reviewer decides on it."""

    __tablename__ = "review_requests"
    __table_args__ = (Index("ix_review_requests_item", "item_id"),)  # deleting an item

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    item_id: Mapped[int] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), primary_key=True
    )
    requested_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


@dataclass(frozen=True)
class CommentRecord:
    """A stored comment with the names of its author and addressee."""

    id: int
    item_id: int
    author_id: int
    author: str
    reply_to: int | None
    reply_to_name: str | None
    body: str
    created_at: datetime


def _comments_query(project_id: int, item_id: int) -> Any:
    c, author, to = CommentRow, aliased(UserRow), aliased(UserRow)
    return (
        select(c, author.name, to.name)
        .join(author, author.id == c.author_id)
        .outerjoin(to, to.id == c.reply_to)
        .where(c.item_id == item_id, c.project_id == project_id)
        .order_by(c.id)
    )


class SqlComments(SqlBase):
    """:class:`~labelloop.storage.protocol.CommentRepository` over SQL."""

    def add_comment(
        self,
        project_id: int,
        item_id: int,
        author_id: int,
        body: str,
        *,
        reply_to: int | None = None,
    ) -> CommentRecord:
        """Store a comment on an item of the project.

        Raises
        ------
        NotFoundError
            If the item is not in the project, or ``reply_to`` names no user.
        """
        with self.write() as s:
            pid = s.scalar(select(ItemRow.project_id).where(ItemRow.id == item_id))
            if pid != project_id:
                raise NotFoundError(f"item {item_id} not found in project {project_id}")
            if reply_to is not None and s.get(UserRow, reply_to) is None:
                raise NotFoundError(f"user {reply_to} not found (the comment's addressee)")
            row = CommentRow(
                project_id=project_id,
                item_id=item_id,
                author_id=author_id,
                reply_to=reply_to,
                body=body,
                created_at=utcnow(),
            )
            s.add(row)
            s.flush()
            found = s.execute(
                _comments_query(project_id, item_id).where(CommentRow.id == row.id)
            ).one()
        return _record(*found)

    def item_comments(
        self, project_id: int, item_id: int, *, viewer_id: int | None = None
    ) -> list[CommentRecord]:
        """The comments on an item, oldest first; with ``viewer_id``, only those the user
        wrote or that are addressed to them."""
        q = _comments_query(project_id, item_id)
        if viewer_id is not None:
            q = q.where(or_(CommentRow.author_id == viewer_id, CommentRow.reply_to == viewer_id))
        with self.snapshot() as s:
            return [_record(*r) for r in s.execute(q)]

    def comment_counts(self, project_id: int, item_ids: Sequence[int]) -> dict[int, int]:
        """How many comments each of the items has (items without any are left out)."""
        c = CommentRow
        out: dict[int, int] = {}
        with self.snapshot() as s:
            for chunk in chunks(sorted(set(item_ids))):
                q = (
                    select(c.item_id, func.count())
                    .where(c.item_id.in_(list(chunk)), c.project_id == project_id)
                    .group_by(c.item_id)
                )
                out.update({int(i): int(n) for i, n in s.execute(q)})
        return out


def _record(row: CommentRow, author: str, to: str | None) -> CommentRecord:
    return CommentRecord(
        row.id,
        row.item_id,
        row.author_id,
        author,
        row.reply_to,
        to,
        row.body,
        aware(row.created_at),
    )
