"""Comments on items: the API (``/api/v1/projects/{id}/items/{item}/comments``) and the
form of the label and review pages (``/p/{id}/items/{item}/comments``, htmx).

Reviewers and admins read and write comments on any item of the project and may address
a reply to one user; annotators comment on the items they hold or answered and read only
their own comments and the replies addressed to them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from pydantic import BaseModel, Field

from labelloop.core.records import UserRecord
from labelloop.errors import LabelloopError, PermissionDeniedError
from labelloop.server.deps import Ctx, Labeler, ProjectDep, ServerContext
from labelloop.server.policies import allowed
from labelloop.server.routes.pages import _page, comments_panel
from labelloop.server.schemas.api import ProjectOut
from labelloop.services.comments import COMMENT_MAX, CommentRecord, Comments
from labelloop.services.project import ProjectInfo

router = APIRouter(tags=["comments"])
pages = APIRouter(include_in_schema=False)
TYPED_MAX = 100_000  # characters a request may carry (the service says the real limit)


class CommentIn(BaseModel):
    """A new comment; ``reply_to`` (reviewers, admins): the id of the user it answers."""

    text: str = Field(
        max_length=TYPED_MAX, description=f"the comment, at most {COMMENT_MAX:,} characters"
    )
    reply_to: int | None = None


class CommentOut(BaseModel):
    """A comment with the names of its author and addressee."""

    id: int
    item_id: int
    author: str
    author_id: int
    reply_to: str | None
    reply_to_id: int | None
    text: str
    created_at: datetime

    @classmethod
    def of(cls, c: CommentRecord) -> CommentOut:
        """The answer for a stored comment."""
        return cls(
            id=c.id,
            item_id=c.item_id,
            author=c.author,
            author_id=c.author_id,
            reply_to=c.reply_to_name,
            reply_to_id=c.reply_to,
            text=c.body,
            created_at=c.created_at,
        )


def _checked(ctx: ServerContext, project: ProjectInfo, user: UserRecord, item_id: int) -> bool:
    """Whether the user reads every comment (reviewers, admins); raises NotFoundError for
    an item the user may not see (annotators: not held or answered by them)."""
    if allowed(user, "review"):
        ctx.project_service(project).items(ids=[item_id])  # in this project
        return True
    ctx.queue(project).task(user, item_id)
    return False


def add_comment(
    ctx: ServerContext,
    project: ProjectInfo,
    user: UserRecord,
    item_id: int,
    text: str,
    reply_to: int | None,
) -> CommentRecord:
    """Check who may comment on the item, then store the comment."""
    see_all = _checked(ctx, project, user, item_id)
    if reply_to is not None and not see_all:
        raise PermissionDeniedError("only reviewers and admins address a reply to someone")
    return Comments(ctx.store, project).add(user, item_id, text, reply_to=reply_to)


def visible_comments(
    ctx: ServerContext, project: ProjectInfo, user: UserRecord, item_id: int
) -> list[CommentRecord]:
    """The comments on an item the user may read (checked as :func:`add_comment`)."""
    see_all = _checked(ctx, project, user, item_id)
    return Comments(ctx.store, project).visible(user, item_id, see_all=see_all)


@router.get("/projects/{project_id}/items/{item_id}/comments", response_model=list[CommentOut])
def list_comments(project: ProjectDep, item_id: int, user: Labeler, ctx: Ctx) -> list[CommentOut]:
    """Comments on an item, oldest first. Reviewers and admins read all of them;
    annotators (on items they hold or answered) their own and the replies to them."""
    return [CommentOut.of(c) for c in visible_comments(ctx, project, user, item_id)]


@router.post(
    "/projects/{project_id}/items/{item_id}/comments", response_model=CommentOut, status_code=201
)
def post_comment(
    project: ProjectDep, item_id: int, body: CommentIn, user: Labeler, ctx: Ctx
) -> CommentOut:
    """Comment on an item (annotators: one they hold or answered). ``reply_to`` addresses
    a reviewer's reply to one user, who then reads it."""
    return CommentOut.of(add_comment(ctx, project, user, item_id, body.text, body.reply_to))


@pages.post("/p/{project_id}/items/{item_id}/comments")
def comment_form(
    request: Request,
    project: ProjectDep,
    item_id: int,
    user: Labeler,
    ctx: Ctx,
    text: Annotated[str, Form(max_length=TYPED_MAX)] = "",
    reply_to: Annotated[str, Form()] = "",
) -> Response:
    """The comment form of the label and review pages: htmx swaps in the comments panel,
    with the new comment, or the refusal above the form as typed."""
    _checked(ctx, project, user, item_id)  # an item the user may not see: 404
    error, status = None, 200
    try:
        add_comment(
            ctx, project, user, item_id, text, int(reply_to) if reply_to.strip().isdigit() else None
        )
        text = ""
    except LabelloopError as exc:
        error, status = exc.message, exc.http_status
    return _page(
        request,
        "comments.html",
        user,
        status=status,
        project=ProjectOut.of(project),
        item_id=item_id,
        comment_error=error,
        typed=text,
        **comments_panel(ctx, project, user, item_id),
    )
