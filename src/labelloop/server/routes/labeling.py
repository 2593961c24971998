"""API routes of projects and the labeling queue (what annotators use)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel

from labelloop.core.records import UserRecord
from labelloop.server.deps import Ctx, Labeler, Labeling, ProjectDep, ServerContext, Viewer
from labelloop.server.policies import allowed
from labelloop.server.routes.convert import scorecard_out, submit_out, task_out
from labelloop.server.schemas.api import (
    AnswerIn,
    NextOut,
    ProjectOut,
    ScorecardOut,
    SubmitOut,
    TaskOut,
    UndoOut,
)
from labelloop.services.project import ProjectInfo
from labelloop.services.review import Scorecard

router = APIRouter(tags=["labeling"])


@router.get("/projects", response_model=list[ProjectOut])
def list_projects(ctx: Ctx, user: Viewer) -> list[ProjectOut]:
    """Projects you may see: all of them for admins; for others the projects without
    members and those you are a member of."""
    return [ProjectOut.of(p) for p in ctx.projects(user)]


@router.get("/projects/{project_id}", response_model=ProjectOut)
def get_project(project: ProjectDep, _: Viewer) -> ProjectOut:
    """A project's label schema (with class descriptions) and settings."""
    return ProjectOut.of(project)


def _json(body: BaseModel) -> Response:
    """A body built from typed parts, serialised once (FastAPI would validate it again
    against the route's response model)."""
    return Response(body.model_dump_json(), media_type="application/json")


@router.post("/projects/{project_id}/queue/next", response_model=NextOut)
def next_task(call: Labeling) -> Response:
    """Your open task, or claim the next one (``task`` is null when the queue is done)."""
    task = call.ctx.queue(call.project).next(call.user)
    return _json(NextOut(task=None if task is None else task_out(call.project, task)))


@router.get("/projects/{project_id}/items/{item_id}/task", response_model=TaskOut)
def get_task(project: ProjectDep, item_id: int, user: Labeler, ctx: Ctx) -> TaskOut:
    """An item you hold or answered before, with your answer (for undo)."""
    return task_out(project, ctx.queue(project).task(user, item_id))


@router.put("/projects/{project_id}/items/{item_id}/annotation", response_model=SubmitOut)
def submit(call: Labeling, item_id: int, body: AnswerIn) -> Response:
    """Submit your answer; the reply comes after the write is durable. Idempotent."""
    ctx, project = call.ctx, call.project
    result = ctx.queue(project).submit(call.user, item_id, body.raw(), body.seconds)
    if ctx.requeuer is not None:
        ctx.requeuer.labeled(project)
    return _json(submit_out(project, result))


@router.post("/projects/{project_id}/items/{item_id}/skip", status_code=204)
def skip(project: ProjectDep, item_id: int, user: Labeler, ctx: Ctx) -> None:
    """Skip an item (it goes to someone else)."""
    ctx.queue(project).skip(user, item_id)


@router.get("/projects/{project_id}/undo", response_model=UndoOut)
def undo(project: ProjectDep, user: Labeler, ctx: Ctx, before: int | None = None) -> UndoOut:
    """The item you answered last (before item ``before``), to change your answer."""
    return UndoOut(item_id=ctx.queue(project).last_answered(user, before=before))


@router.get("/projects/{project_id}/scorecard", response_model=ScorecardOut)
def my_scorecard(project: ProjectDep, user: Labeler, ctx: Ctx) -> ScorecardOut:
    """Your own numbers in this project. Annotators see them delayed and aggregated (over
    full batches of 20 settled items; honeypots only with honeypot feedback on);
    reviewers and admins see their full card."""
    return scorecard_out(my_card(ctx, project, user))


def my_card(ctx: ServerContext, project: ProjectInfo, user: UserRecord) -> Scorecard:
    """The caller's own scorecard as their role may see it."""
    review = ctx.review(project)
    if allowed(user, "view_quality"):
        mine = [c for c in review.scorecards([user]) if c.user_id == user.id]
        if mine:
            return mine[0]
    return review.own_scorecard(user)


def image_path(ctx: ServerContext, project: ProjectInfo, item_id: int,
               user: UserRecord) -> Path:
    """The image file of an item the user may see (annotators: only their own tasks),
    inside the project's media roots."""
    if not allowed(user, "review"):
        ctx.queue(project).task(user, item_id)
    service = ctx.project_service(project)
    return service.image_file(service.items(ids=[item_id])[0])


@router.get("/projects/{project_id}/items/{item_id}/image", response_class=FileResponse)
def get_image(project: ProjectDep, item_id: int, user: Labeler, ctx: Ctx) -> FileResponse:
    """The image of an item."""
    return FileResponse(image_path(ctx, project, item_id, user))
