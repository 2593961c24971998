"""API routes for reviewers and admins: review, items, quality, settings, import/export."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, get_args

from fastapi import APIRouter, BackgroundTasks, File, Form, Request, Response, UploadFile
from fastapi.responses import FileResponse

from labelloop.errors import (
    LabelloopError,
    NotFoundError,
    PayloadTooLargeError,
    ValidationError,
)
from labelloop.io import FORMATS, FileExportFormat
from labelloop.server.deps import Admin, Ctx, ProjectDep, QualityViewer, Reviewer, ServerContext
from labelloop.server.routes.convert import entry_out, scorecard_out
from labelloop.server.schemas.api import (
    DashboardOut,
    DecisionIn,
    ErrorOut,
    ItemOut,
    ProjectOut,
    ReviewEntryOut,
    ScorecardOut,
    SettingsPatch,
    UserOut,
)
from labelloop.server.security import too_large
from labelloop.services.project import ProjectInfo

router = APIRouter(tags=["oversight"])
ExportFormat = FileExportFormat
_SUFFIX = {name: FORMATS[name].suffixes[0] for name in get_args(FileExportFormat)}


@router.get("/projects/{project_id}/items", response_model=list[ItemOut])
def list_items(project: ProjectDep, _: Reviewer, ctx: Ctx, request: Request,
               response: Response, after: int | None = None, offset: int = 0,
               limit: int = 100) -> list[ItemOut]:
    """Items of a project, in id order (paged).

    Page with ``after`` (the last id of the previous page): the ``Link`` header of a full
    page names the next one (``rel="next"``). ``offset`` still works, but walks every item
    before the page, so deep offsets are slow on large projects.
    """
    if limit < 1 or limit > 1000 or offset < 0:
        raise ValidationError(f"expected 0 <= offset and 1 <= limit <= 1000, got {offset}, {limit}")
    if after is None and offset == 0:
        after = 0  # the first page: a keyset read too
    items = ctx.project_service(project).items(after=after, offset=offset, limit=limit)
    if len(items) == limit:
        response.headers["Link"] = next_link(request, items[-1].id)
    return [ItemOut.of(project.id, it) for it in items]


def next_link(request: Request, last: int | None) -> str:
    """A ``Link`` header value naming the page after item ``last`` (other query kept)."""
    url = request.url.remove_query_params(["after", "offset"]).include_query_params(after=last)
    return f'<{url.path}?{url.query}>; rel="next"'


@router.get("/projects/{project_id}/items/{item_id}", response_model=ReviewEntryOut)
def get_item(project: ProjectDep, item_id: int, _: Reviewer, ctx: Ctx) -> ReviewEntryOut:
    """An item with every source's vote (gold included) and why it is flagged."""
    return entry_out(project, ctx.review(project).entry(item_id))


@router.get("/projects/{project_id}/review", response_model=list[ReviewEntryOut])
def review_queue(project: ProjectDep, _: Reviewer, ctx: Ctx, request: Request,
                 response: Response, reason: str | None = None, limit: int = 50,
                 after: int = 0) -> list[ReviewEntryOut]:
    """Items flagged needs_review, disagreements, honeypot misses, automated checks and
    items sent to review from the data browser, not yet reviewed (``reason``: one of
    them: needs_review, disagreement, honeypot_miss, check, requested).

    ``after``: start after this item id; a full page's ``Link`` header names the next.
    """
    if limit < 1 or limit > 1000:
        raise ValidationError(f"expected 1 <= limit <= 1000, got {limit}")
    entries = ctx.review(project).queue(reason=reason, limit=limit, after=after)
    if len(entries) == limit:
        response.headers["Link"] = next_link(request, entries[-1].item.id)
    return [entry_out(project, e) for e in entries]


@router.post("/projects/{project_id}/items/{item_id}/review", response_model=ReviewEntryOut)
def decide(project: ProjectDep, item_id: int, body: DecisionIn, user: Reviewer,
           ctx: Ctx) -> ReviewEntryOut:
    """Accept or correct (your answer becomes a gold vote) or send back (one more label)."""
    review = ctx.review(project)
    review.decide(user, item_id, body.decision, body.raw(), body.note)
    return entry_out(project, review.entry(item_id))


@router.get("/projects/{project_id}/scorecards", response_model=list[ScorecardOut])
def scorecards(project: ProjectDep, _: QualityViewer, ctx: Ctx) -> list[ScorecardOut]:
    """Every annotator's scorecard."""
    return [scorecard_out(c) for c in ctx.review(project).scorecards(ctx.users.list())]


@router.get("/projects/{project_id}/dashboard", response_model=DashboardOut)
def dashboard(project: ProjectDep, _: QualityViewer, ctx: Ctx) -> DashboardOut:
    """Progress, agreement, honeypot accuracy, label-model coverage, labels saved."""
    d = ctx.review(project).dashboard(ctx.users.list())
    return DashboardOut(
        items=d.items, states=d.status.states, agreement=d.agreement,
        pairs_compared=d.pairs_compared, label_model_coverage=d.label_model_coverage,
        human_labels_saved=d.human_labels_saved, review_queue=d.review_queue,
        scorecards=[scorecard_out(c) for c in d.scorecards],
    )


@router.patch("/projects/{project_id}/settings", response_model=ProjectOut)
def patch_settings(project: ProjectDep, body: SettingsPatch, _: Admin, ctx: Ctx) -> ProjectOut:
    """Change overlap, honeypot rate, review threshold, claim minutes, feedback (admin)."""
    service = ctx.project_service(project)
    service.update_settings(**body.model_dump(exclude_none=True))
    return ProjectOut.of(service.info)


def save_upload(ctx: ServerContext, file: UploadFile, folder: Path) -> Path:
    """Copy an upload into ``folder`` under a safe version of its name (refused beyond
    the server's upload limit)."""
    suffix = Path(file.filename or "upload").suffix.lower()[:10]
    stem = re.sub(r"[^\w.-]", "_", Path(file.filename or "upload").stem)[:80] or "upload"
    path = folder / f"{stem}{suffix}"
    copied = 0
    with path.open("wb") as fh:
        while chunk := file.file.read(1 << 20):
            copied += len(chunk)
            if copied > ctx.max_upload_bytes:  # a body without Content-Length
                raise PayloadTooLargeError(too_large(ctx.max_upload_bytes))
            fh.write(chunk)
    return path


def scrub_folder(exc: LabelloopError, folder: str) -> None:
    """Remove a server folder from an error's message and details (errors name the file
    as it was uploaded, never the server's temporary folder)."""
    exc.message = exc.message.replace(f"{folder}/", "").replace(folder, "")
    exc.args = (exc.message,)
    if isinstance(exc.details, list):
        exc.details = [{k: v.replace(f"{folder}/", "") if isinstance(v, str) else v
                        for k, v in d.items()} if isinstance(d, dict) else d
                       for d in exc.details]


def import_upload(ctx: ServerContext, project: ProjectInfo, file: UploadFile,
                  format: str | None, label_column: str | None) -> dict[str, int]:
    """Store an uploaded file in a temporary folder and import it into the project."""
    with tempfile.TemporaryDirectory() as tmp:
        path = save_upload(ctx, file, Path(tmp))
        options = {} if not label_column else {"label_column": label_column}
        try:
            res = ctx.project_service(project).import_file(
                path, format=format or None, image_root=ctx.media_root, trust_folder=False,
                **options)
        except LabelloopError as exc:
            scrub_folder(exc, tmp)
            raise
    return {"added": res.added, "skipped": res.skipped, "annotations": res.annotations}


@router.post("/projects/{project_id}/import", responses={413: {
    "model": ErrorOut, "description": "The upload is larger than the server accepts"}})
def import_file(
    project: ProjectDep, _: Admin, ctx: Ctx, file: Annotated[UploadFile, File()],
    format: Annotated[str | None, Form()] = None,
    label_column: Annotated[str | None, Form()] = None,
) -> dict[str, int]:
    """Import a CSV, JSONL, Label Studio or COCO file (admin); all or nothing."""
    return import_upload(ctx, project, file, format, label_column)


@router.get("/projects/{project_id}/export", response_class=FileResponse)
def export(project: ProjectDep, _: Admin, ctx: Ctx, background: BackgroundTasks,
           format: ExportFormat = "jsonl") -> FileResponse:
    """Download every item with its labels (admin), read in one consistent snapshot."""
    tmp = Path(tempfile.mkdtemp())
    name = f"{project.name}{_SUFFIX[format]}"
    path = ctx.project_service(project).export(tmp / name, format=format)
    background.add_task(shutil.rmtree, tmp, ignore_errors=True)
    return FileResponse(path, filename=name)


@router.get("/projects/{project_id}/members", response_model=list[UserOut])
def list_members(project: ProjectDep, _: Admin, ctx: Ctx) -> list[UserOut]:
    """Users admitted to the project (admin); empty: the project is open to every user."""
    return [UserOut.of(ctx.users.get(uid)) for uid in ctx.members.user_ids(project.id)]


@router.put("/projects/{project_id}/members/{user_id}", response_model=list[UserOut])
def add_member(project: ProjectDep, user_id: int, _: Admin, ctx: Ctx) -> list[UserOut]:
    """Admit a user (admin). From the first member on, only members and admins see the
    project; to others it answers 404."""
    ctx.members.grant(project.id, user_id)
    return list_members(project, _, ctx)


@router.delete("/projects/{project_id}/members/{user_id}", status_code=204)
def remove_member(project: ProjectDep, user_id: int, _: Admin, ctx: Ctx) -> None:
    """Remove a user from the project (admin); without members it is open to all again."""
    if not ctx.members.revoke(project.id, user_id):
        raise NotFoundError(f"user {user_id} is not a member of project {project.id}")
