"""Request dependencies: the server context, who is asking, the project in the path."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request

from labelloop.core.records import UserRecord
from labelloop.errors import AuthenticationError, NotFoundError, PermissionDeniedError
from labelloop.server.policies import Action, require
from labelloop.server.requeue import Requeuer
from labelloop.server.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    LoginLimiter,
    csrf_ok,
)
from labelloop.services.import_jobs import ImportJobs
from labelloop.services.members import Members, visible_to
from labelloop.services.project import Project, ProjectInfo, StoreProtocol
from labelloop.services.queue import LabelingQueue
from labelloop.services.review import Review
from labelloop.services.users import Users

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PROJECT_CACHE_SECONDS = 2.0
"""How long one server process reuses a project's settings and members."""


class ProjectCache:
    """A project's details (schema, settings, access) and member ids, reused for a while.

    Every request names a project; reading it and its members each time cost two
    transactions and a validation of the schema and settings. An entry is reused while
    it is younger than ``seconds`` and the store's ``config_version`` is the one it was
    read at: a change made through this server process (or its store) takes effect at
    once, one made by another process (the CLI, another worker) within ``seconds``.

    Parameters
    ----------
    store:
        The store the projects live in.
    seconds:
        How long an entry is reused (0: read on every request).
    clock:
        Monotonic time source (tests pass a fake one).
    """

    def __init__(self, store: StoreProtocol, seconds: float = PROJECT_CACHE_SECONDS, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.seconds = seconds
        self._clock = clock
        self._entries: dict[int, tuple[float, int, ProjectInfo, frozenset[int]]] = {}
        self._lock = threading.Lock()

    def get(self, project_id: int) -> tuple[ProjectInfo, frozenset[int]]:
        """The project and its member ids (NotFoundError for an unknown id)."""
        now, version = self._clock(), self.store.config_version
        with self._lock:
            found = self._entries.get(project_id)
        if found is not None and found[1] == version and now - found[0] < self.seconds:
            return found[2], found[3]
        info = self.store.project(project_id)
        members = frozenset(self.store.member_ids(project_id)) if info.members_only else (
            frozenset())
        if self.seconds > 0:
            with self._lock:
                self._entries[project_id] = (now, version, info, members)
        return info, members


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
    project_cache: ProjectCache | None = None
    imports: ImportJobs = field(default_factory=ImportJobs)

    def __post_init__(self) -> None:
        if self.project_cache is None:
            self.project_cache = ProjectCache(self.store)

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
    async def dependency(user: User) -> UserRecord:  # no I/O: no thread hop
        return require(user, action)

    return Depends(dependency)


Labeler = Annotated[UserRecord, _needs("label")]
Viewer = Annotated[UserRecord, _needs("view_project")]
Reviewer = Annotated[UserRecord, _needs("review")]
QualityViewer = Annotated[UserRecord, _needs("view_quality")]
Admin = Annotated[UserRecord, _needs("manage")]


async def project_dep(project_id: int, ctx: Ctx, user: User) -> ProjectInfo:
    """The project named in the path (404 for an unknown id, or one the user may not see).

    Served from the :class:`ProjectCache` (a database read only when the entry is old).
    """
    assert ctx.project_cache is not None
    info, members = ctx.project_cache.get(project_id)
    if not visible_to(user, info, members):
        raise NotFoundError(f"project {project_id} not found")
    return info


ProjectDep = Annotated[ProjectInfo, Depends(project_dep)]


@dataclass(frozen=True)
class LabelingCall:
    """Who labels in which project, for the annotator's hot routes."""

    ctx: ServerContext
    user: UserRecord
    project: ProjectInfo


async def labeling_call(project_id: int, request: Request) -> LabelingCall:
    """:data:`ProjectDep` and :data:`Labeler` as one dependency (the same checks in the
    same order: 401, then 404, then 403), for the routes every annotator calls in a loop:
    FastAPI solves one dependency instead of five."""
    ctx = get_ctx(request)
    user = await current_user(request, ctx)
    project = await project_dep(project_id, ctx, user)
    return LabelingCall(ctx, require(user, "label"), project)


Labeling = Annotated[LabelingCall, Depends(labeling_call)]
