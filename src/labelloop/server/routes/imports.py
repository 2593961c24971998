"""The dashboard's import (admins): the upload runs as a background job that the page
polls (htmx, every second) for the rows read so far; it ends with what was imported, or
with one line per bad row and the word that nothing was imported."""

from __future__ import annotations

import shutil
import tempfile
from functools import partial
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response

from labelloop.core.records import UserRecord
from labelloop.errors import LabelloopError
from labelloop.server.deps import Admin, Ctx, ProjectDep
from labelloop.server.routes.oversight import save_upload, scrub_folder
from labelloop.server.routes.pages import _page
from labelloop.server.schemas.api import ProjectOut
from labelloop.services.import_jobs import ImportJob
from labelloop.services.project import ProjectInfo

router = APIRouter(include_in_schema=False)
POLL_SECONDS = 1
SHOWN = 200  # bad rows listed on the page


@router.post("/p/{project_id}/import")
def import_start(
    request: Request,
    project: ProjectDep,
    user: Admin,
    ctx: Ctx,
    file: Annotated[UploadFile, File()],
    label_column: Annotated[str, Form()] = "",
) -> Response:
    """Start importing an uploaded file; htmx swaps in its progress, which polls on."""
    tmp = tempfile.mkdtemp(prefix="labelloop-import-")
    try:
        path = save_upload(ctx, file, Path(tmp))
    except LabelloopError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        return _page(
            request,
            "import_progress.html",
            user,
            status=exc.http_status,
            project=ProjectOut.of(project),
            job=None,
            error=exc.message,
        )
    options = {"label_column": label_column} if label_column else {}
    job = ctx.imports.start(
        ctx.project_service(project),
        path,
        file_name=path.name,
        scrub=partial(scrub_folder, folder=tmp),
        cleanup=partial(shutil.rmtree, tmp, ignore_errors=True),
        image_root=ctx.media_root,
        trust_folder=False,
        **options,
    )
    return _progress(request, project, user, job)


@router.get("/p/{project_id}/import/{job_id}")
def import_status(
    request: Request, project: ProjectDep, job_id: str, user: Admin, ctx: Ctx
) -> Response:
    """An import's progress (rows read, share of the file), then its result or its
    row-level report."""
    job = ctx.imports.get(project.id, job_id)
    return _progress(request, project, user, job)


def _progress(request: Request, project: ProjectInfo, user: UserRecord,
              job: ImportJob) -> Response:
    """The progress fragment of an import job (the page polls it until the job ends)."""
    return _page(request, "import_progress.html", user, project=ProjectOut.of(project),
                 job=job, poll=POLL_SECONDS, shown=SHOWN)
