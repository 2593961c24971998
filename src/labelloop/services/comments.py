"""Comments on items: annotators ask about an item from the label page, reviewers and
admins read every comment and may answer one person.

Who sees what: reviewers and admins (``see_all``) read every comment on an item; anyone
else reads only the comments they wrote and the replies addressed to them, never another
annotator's comment (which could reveal that annotator's answer). Which items a user may
comment on is decided by the caller (annotators: the items they hold or answered).
"""

from __future__ import annotations

from collections.abc import Sequence

from labelloop.core.records import UserRecord
from labelloop.errors import ValidationError
from labelloop.storage import ProjectInfo, StoreProtocol
from labelloop.storage.comments import COMMENT_MAX, CommentRecord

__all__ = ["COMMENT_MAX", "CommentRecord", "Comments"]


class Comments:
    """The comments of one project."""

    def __init__(self, store: StoreProtocol, project: ProjectInfo) -> None:
        self.store = store
        self.project = project

    def add(
        self, author: UserRecord, item_id: int, text: str, *, reply_to: int | None = None
    ) -> CommentRecord:
        """Store a comment by ``author`` on an item (``reply_to``: the user it answers).

        Raises
        ------
        ValidationError
            If the comment is empty or longer than :data:`COMMENT_MAX` characters.
        NotFoundError
            If the item is not in the project or ``reply_to`` names no user.
        """
        body = text.strip()
        if not body:
            raise ValidationError("comment: write something first (the comment is empty)")
        if len(body) > COMMENT_MAX:
            raise ValidationError(
                f"comment: at most {COMMENT_MAX:,} characters, got "
                f"{len(body):,}; shorten it or split it into two comments"
            )
        if author.id is None:
            raise ValidationError("the author has no id (not a stored user)")
        return self.store.add_comment(self.project.id, item_id, author.id, body, reply_to=reply_to)

    def visible(self, viewer: UserRecord, item_id: int, *, see_all: bool) -> list[CommentRecord]:
        """The comments on an item the viewer may read, oldest first."""
        return self.store.item_comments(
            self.project.id, item_id, viewer_id=None if see_all else viewer.id or 0
        )

    def counts(self, item_ids: Sequence[int]) -> dict[int, int]:
        """Comments per item (reviewers' view: every comment)."""
        return self.store.comment_counts(self.project.id, item_ids)
