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
import socket
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


def serve(workers: int, *, host: str, port: int) -> None:
    """Run ``workers`` uvicorn processes on one listening socket, each building the app
    with :func:`app` (the options in :data:`CONFIG_ENV`)."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(f"{__name__}:app", factory=True, workers=workers, host=host,
                            port=port, log_level="warning", proxy_headers=False)
    # made here with its protocol named: uvicorn's own socket has protocol 0, so asyncio
    # leaves TCP_NODELAY off on the connections it accepts, and every answer's body
    # waited ~40 ms for the client's delayed ACK
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UserInputError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    try:
        Multiprocess(config, sockets=[sock]).run()
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()


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
