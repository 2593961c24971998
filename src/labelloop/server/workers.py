"""Several server processes: the app each worker of ``labelloop serve --workers N`` builds.

uvicorn starts worker processes that import an application by name, so the options of
``labelloop serve`` reach them as JSON in the environment variable :data:`CONFIG_ENV`.
Each worker opens its own store (own connection pool) and keeps its own caches of tokens
and projects; a change made through one worker reaches the others within those caches'
lifetimes (:data:`labelloop.services.users.TOKEN_CACHE_SECONDS`,
:data:`labelloop.server.deps.PROJECT_CACHE_SECONDS`).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from fastapi import FastAPI

from labelloop.errors import UserInputError

CONFIG_ENV = "LABELLOOP_SERVE_CONFIG"
MAX_WORKERS = 16


@dataclass(frozen=True)
class ServeConfig:
    """What every worker needs to build the same app."""

    project: str
    secret: str
    secure_cookies: bool = False
    trusted_proxies: tuple[str, ...] = ()
    max_upload_mb: float = 100.0

    def to_env(self) -> str:
        """The config as the JSON a worker reads back."""
        return json.dumps(asdict(self))


def default_workers(dialect: str, cpus: int | None = None) -> int:
    """Worker processes when ``--workers`` is not given: one per CPU (at most 4) for
    PostgreSQL; one for SQLite, whose writers queue on one file lock anyway."""
    if dialect != "postgresql":
        return 1
    return max(1, min(4, cpus if cpus is not None else (os.cpu_count() or 1)))


def check_workers(workers: int, *, background_jobs: bool) -> None:
    """Refuse a worker count the server cannot run.

    Raises
    ------
    UserInputError
        If ``workers`` is out of range, or above 1 with background jobs (the requeuer
        and the closed loop run in one process).
    """
    if not 1 <= workers <= MAX_WORKERS:
        raise UserInputError(f"--workers must be between 1 and {MAX_WORKERS}, got {workers}")
    if workers > 1 and background_jobs:
        raise UserInputError("--embedding-model runs its background jobs in one process; "
                             "use it with --workers 1")


def app() -> FastAPI:
    """Build the app of one worker from :data:`CONFIG_ENV` (a uvicorn factory).

    Raises
    ------
    UserInputError
        If the variable is missing (the factory is meant for ``labelloop serve``).
    """
    from labelloop.server.app import create_app
    from labelloop.services.project import Project
    from labelloop.services.users import Users

    raw = os.environ.get(CONFIG_ENV)
    if raw is None:
        raise UserInputError(f"{CONFIG_ENV} is not set; start workers with labelloop serve "
                             "--workers N")
    data = json.loads(raw)
    cfg = ServeConfig(**{**data, "trusted_proxies": tuple(data.get("trusted_proxies", ()))})
    project = Project.open(Path(cfg.project))
    return create_app(project.store, secret=cfg.secret, media_root=Path(cfg.project),
                      secure_cookies=cfg.secure_cookies, users=Users(project.store),
                      trusted_proxies=cfg.trusted_proxies, max_upload_mb=cfg.max_upload_mb)
