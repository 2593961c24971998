"""Project setup pages (admins): create a project from Home, edit its classes and the
annotators' instructions on the dashboard.

A refused form is shown again with the error above it and what was typed kept (htmx swaps
the 4xx answer in, see ``base.html``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from labelloop.core.records import UserRecord
from labelloop.core.schema import INSTRUCTIONS_MAX, LabelClass
from labelloop.core.tasks import TASK_TYPES
from labelloop.errors import LabelloopError, ValidationError
from labelloop.server.deps import Admin, Ctx, ProjectDep
from labelloop.server.instructions import render_instructions
from labelloop.server.routes.pages import _page, home_page, templates
from labelloop.server.schemas.api import ProjectOut
from labelloop.services.project import ProjectInfo
from labelloop.services.setup import ClassEdit, create_project, edit_classes, parse_class_lines

router = APIRouter(include_in_schema=False)
templates.env.globals["task_types"] = TASK_TYPES
templates.env.filters["markdown"] = render_instructions


@router.post("/projects")
def project_create(request: Request, user: Admin, ctx: Ctx,
                   name: Annotated[str, Form(max_length=1000)] = "",
                   task: Annotated[str, Form(max_length=100)] = "",
                   classes: Annotated[str, Form(max_length=100_000)] = "") -> Response:
    """Create a project in the server's store; on to its dashboard (a refusal shows Home
    again with the error and the form as typed)."""
    try:
        info = create_project(ctx.store, name, task, parse_class_lines(classes))
    except LabelloopError as exc:
        return home_page(request, user, ctx, status=exc.http_status, create_error=exc.message,
                         typed={"name": name, "task": task, "classes": classes})
    return RedirectResponse(f"/p/{info.id}/dashboard", status_code=303)


def _classes_card(request: Request, user: UserRecord, project: ProjectInfo, status: int = 200,
                  **extra: object) -> Response:
    return _page(request, "classes.html", user, status=status, project=ProjectOut.of(project),
                 **extra)


@router.post("/p/{project_id}/classes")
def classes_save(
    request: Request, project: ProjectDep, user: Admin, ctx: Ctx,
    old: Annotated[list[str] | None, Form()] = None,
    name: Annotated[list[str] | None, Form()] = None,
    description: Annotated[list[str] | None, Form()] = None,
    color: Annotated[list[str] | None, Form()] = None,
    remove: Annotated[list[str] | None, Form()] = None,
    added: Annotated[str, Form(max_length=100_000)] = "",
) -> Response:
    """Save edited classes (htmx swaps the class card: saved, or the refusal above the
    form as typed). ``old[i]`` names the class the row edits; ``remove`` lists the
    classes to remove; ``added`` takes new classes one per line."""
    old, name = old or [], name or []
    description, color, gone = description or [], color or [], set(remove or [])
    if not len(old) == len(name) == len(description) == len(color):
        return _classes_card(request, user, project, status=422,
                             error="the form is incomplete; reload the page")
    edits = {o: ClassEdit(n, d, c, remove=o in gone)
             for o, n, d, c in zip(old, name, description, color, strict=True)}
    service = ctx.project_service(project)
    try:
        new: list[LabelClass] = parse_class_lines(added) if added.strip() else []
        edit_classes(service, edits, new)
    except LabelloopError as exc:
        return _classes_card(request, user, project, status=exc.http_status,
                             error=exc.message, added=added)
    return _classes_card(request, user, service.info, saved=True)


@router.post("/p/{project_id}/instructions")
def instructions_save(request: Request, project: ProjectDep, user: Admin, ctx: Ctx,
                      instructions: Annotated[str, Form()] = "") -> Response:
    """Save the annotators' instructions (Markdown); htmx swaps in the card with a
    preview."""
    service = ctx.project_service(project)
    try:
        if len(instructions) > INSTRUCTIONS_MAX:
            raise ValidationError(f"instructions: at most {INSTRUCTIONS_MAX:,} characters, "
                                  f"got {len(instructions):,}; shorten them or link to a "
                                  "longer guide")
        service.update_settings(instructions=instructions)
    except LabelloopError as exc:
        return _page(request, "instructions.html", user, status=exc.http_status,
                     project=ProjectOut.of(project), error=exc.message, typed=instructions)
    return _page(request, "instructions.html", user, project=ProjectOut.of(service.info),
                 saved=True)
