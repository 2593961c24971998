"""Request dependencies: the server context, who is asking, the project in the path."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request

from labelloop.core.records import UserRecord
from labelloop.errors import AuthenticationError, PermissionDeniedError
from labelloop.server.policies import Action, require
from labelloop.server.requeue import Requeuer
from labelloop.server.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    LoginLimiter,
    csrf_ok,
)
from labelloop.services.members import Members
from labelloop.services.project import Project, ProjectInfo, StoreProtocol
from labelloop.services.queue import LabelingQueue
from labelloop.services.review import Review
from labelloop.services.users import Users

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class ServerContext:
    """What every request needs: the store, accounts, the secret and options."""

    store: StoreProtocol
    users: Users
    secret: str
    media_root: Path | None = None
    secure_cookies: bool = False
    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    rng: random.Random = field(default_factory=random.Random)
    requeuer: Requeuer | None = None
    trusted_proxies: frozenset[str] = frozenset()
    max_upload_bytes: int = 100 * 1024 * 1024

    def projects(self, user: UserRecord) -> list[ProjectInfo]:
        """The projects the user may see (members only where a project has members)."""
        return self.members.projects(user)

    @property
    def members(self) -> Members:
        """Project membership."""
        return Members(self.store)

    def project_service(self, project: ProjectInfo) -> Project:
        """A project's items, settings, import and export (images resolve in media_root)."""
        return Project(self.store, project, self.media_root)

    def queue(self, project: ProjectInfo) -> LabelingQueue:
        """The labeling queue of a project."""
        return LabelingQueue(self.store, project, self.rng)

    def review(self, project: ProjectInfo) -> Review:
        """The review service of a project."""
        return Review(self.store, project)


def get_ctx(request: Request) -> ServerContext:
    """The server context stored on the app."""
    return request.app.state.ctx  # type: ignore[no-any-return]


Ctx = Annotated[ServerContext, Depends(get_ctx)]


async def current_user(request: Request, ctx: Ctx) -> UserRecord:
    """Who is asking: a bearer API token, or a session cookie (with CSRF on writes).

    Raises
    ------
    AuthenticationError
        Without valid credentials.
    PermissionDeniedError
        When a cookie-authenticated write lacks the CSRF token.
    """
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return ctx.users.token_user(auth[7:].strip())
    raw = request.cookies.get(SESSION_COOKIE)
    user = ctx.users.session_user(raw) if raw else None
    if user is None or raw is None:
        raise AuthenticationError("log in first (or send 'Authorization: Bearer <token>')")
    if request.method not in SAFE_METHODS:
        given = request.headers.get(CSRF_HEADER)
        if given is None and request.headers.get("content-type", "").startswith(
                ("application/x-www-form-urlencoded", "multipart/form-data")):
            given = (await request.form()).get(CSRF_FIELD)  # type: ignore[assignment]
        if not csrf_ok(ctx.secret, raw, given):
            raise PermissionDeniedError("missing or wrong CSRF token; reload the page")
    request.state.session = raw
    return user


User = Annotated[UserRecord, Depends(current_user)]


def _needs(action: Action) -> Any:
    def dependency(user: User) -> UserRecord:
        return require(user, action)

    return Depends(dependency)


Labeler = Annotated[UserRecord, _needs("label")]
Viewer = Annotated[UserRecord, _needs("view_project")]
Reviewer = Annotated[UserRecord, _needs("review")]
QualityViewer = Annotated[UserRecord, _needs("view_quality")]
Admin = Annotated[UserRecord, _needs("manage")]


def project_dep(project_id: int, ctx: Ctx, user: User) -> ProjectInfo:
    """The project named in the path (404 for an unknown id, or one the user may not see)."""
    return ctx.members.project(user, project_id)


ProjectDep = Annotated[ProjectInfo, Depends(project_dep)]
