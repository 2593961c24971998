"""``labelloop serve`` and ``labelloop user``: run the annotation server, manage accounts."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from labelloop._deps import require
from labelloop.cli.common import LabelloopGroup, ProjectDir, console, open_project
from labelloop.core.records import ROLES
from labelloop.errors import NotFoundError

if TYPE_CHECKING:
    from labelloop.server.requeue import Requeuer
    from labelloop.services.project import Project, ProjectInfo
    from labelloop.services.users import Users

user_app = typer.Typer(name="user", help="Manage the accounts of the annotation server.",
                       no_args_is_help=True, cls=LabelloopGroup)


def _users(project: Path) -> tuple[Project, Users]:
    from labelloop.services.users import Users

    p = open_project(project)
    return p, Users(p.store)


def serve(
    project: Annotated[Path, typer.Argument(help="Project folder (holds labelloop.yaml).")] = Path(
        "."),
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    secure_cookies: Annotated[bool, typer.Option(
        help="Mark cookies Secure (when served behind HTTPS).")] = False,
    trusted_proxy: Annotated[list[str] | None, typer.Option(
        help="Address of a reverse proxy whose X-Forwarded-For names the client (repeat "
             "for several; default: none, the header is ignored).")] = None,
    max_upload_mb: Annotated[float, typer.Option(
        help="Largest upload the server accepts, in MB (larger ones get 413).")] = 100.0,
    embedding_model: Annotated[str | None, typer.Option(
        help="Refresh active-learning priorities every requeue_every answers, from the "
             "embeddings pre-labeling cached under this model name.")] = None,
    pool_size: Annotated[int | None, typer.Option(
        min=1, help="Database connections kept open (as many more open on demand); default "
                    "LABELLOOP_POOL_SIZE or 20, enough for 50 annotators.")] = None,
    loop: Annotated[bool, typer.Option(
        "--loop", help="With --embedding-model: run rounds of the closed loop (the code of "
                       "`labelloop loop`) in the background instead of only refreshing "
                       "priorities: one at start when due (or after an interrupted one), "
                       "then whenever loop_every new answers arrived.")] = False,
    workers: Annotated[int | None, typer.Option(
        help="Server processes (default: one per CPU, at most 4, on PostgreSQL; 1 on "
             "SQLite). Each keeps its own caches: a token revoked or a setting changed "
             "through one reaches the others within seconds.")] = None,
) -> None:
    """Serve the labeling web UI and the REST API (/api/v1) of a project.

    The session secret comes from LABELLOOP_SECRET or a random one kept in the project's
    .labelloop-secret file. On the first run an [bold]admin[/] account is created and its
    password printed.

    Example: [bold]labelloop serve labelloop-example[/]
    """
    require("server", "fastapi", feature="labelloop serve")
    uvicorn = require("server", "uvicorn", feature="labelloop serve")
    from labelloop.server import create_app
    from labelloop.server.security import load_or_create_secret
    if pool_size is not None:
        os.environ["LABELLOOP_POOL_SIZE"] = str(pool_size)
    p, users = _users(project)
    secret = load_or_create_secret(project)
    first = users.ensure_admin()
    if first is not None:
        admin, password = first
        console.print(f"created the first admin account: user [bold]{admin.name}[/], "
                      f"password [bold]{password}[/] (shown once)", highlight=False)
    from labelloop.server.workers import check_workers, default_workers

    n_workers = workers if workers is not None else default_workers(p.store.dialect)
    check_workers(n_workers, background_jobs=embedding_model is not None and workers is not None)
    if embedding_model:
        n_workers = 1
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    if n_workers > 1:
        _serve_workers(p, project, secret, n_workers, host=host, port=port, shown=shown,
                       secure_cookies=secure_cookies, trusted_proxy=trusted_proxy or [],
                       max_upload_mb=max_upload_mb)
        return
    requeuer = None
    if embedding_model:
        requeuer = _looper(p, embedding_model) if loop else _requeuer(p, embedding_model)
    app = create_app(p.store, secret=secret, media_root=project.resolve(),
                     secure_cookies=secure_cookies, users=users, requeuer=requeuer,
                     trusted_proxies=trusted_proxy or (), max_upload_mb=max_upload_mb)
    console.print(f"serving [bold]{p.name}[/] at http://{shown}:{port}/  (Ctrl+C stops)",
                  highlight=False)
    # the app reads X-Forwarded-For itself, from --trusted-proxy only
    uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=False)


def _serve_workers(p: Project, project: Path, secret: str, workers: int, *, host: str, port: int,
                   shown: str, secure_cookies: bool, trusted_proxy: list[str],
                   max_upload_mb: float) -> None:
    """Serve with several uvicorn worker processes, each building the app itself."""
    from labelloop.server.workers import CONFIG_ENV, ServeConfig, serve

    # the processes share PostgreSQL's connections (100 by default): 80 at most in all
    os.environ.setdefault("LABELLOOP_POOL_SIZE", str(max(10, 40 // workers)))
    os.environ[CONFIG_ENV] = ServeConfig(
        str(project.resolve()), secret, secure_cookies, tuple(trusted_proxy), max_upload_mb,
    ).to_env()
    p.close()
    console.print(f"serving [bold]{p.name}[/] at http://{shown}:{port}/ with {workers} "
                  "processes  (Ctrl+C stops)", highlight=False)
    serve(workers, host=host, port=port)


def _requeuer(p: Project, embedding_model: str) -> Requeuer:
    """Refresh priorities with :func:`labelloop.services.active.refresh_priorities`."""
    from labelloop.server.requeue import Requeuer
    from labelloop.services.active import refresh_priorities
    from labelloop.services.project import Project

    def refresh(info: ProjectInfo) -> object:
        return refresh_priorities(Project(p.store, info, p.folder),
                                  embedding_model=embedding_model)

    return Requeuer(refresh)


def _looper(p: Project, embedding_model: str) -> Requeuer:
    """Run :func:`labelloop.services.loop.run_round` in the background when a round is due.

    A round that a stop or crash interrupted left nothing applied; the first round, started
    here at once, re-runs it.
    """
    from labelloop.server.requeue import Requeuer
    from labelloop.services.loop import LoopConfig, round_due, run_round
    from labelloop.services.project import Project

    config = LoopConfig(embedding_model=embedding_model)

    def refresh(info: ProjectInfo) -> object:
        project = Project(p.store, info, p.folder)
        if not round_due(project):
            return None
        return run_round(project, config=config, trigger="server")

    requeuer = Requeuer(refresh)
    requeuer.start_now(p.info)
    return requeuer


@user_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="User name.")],
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)}.")] = "annotator",
    password: Annotated[str | None, typer.Option(
        envvar="LABELLOOP_PASSWORD", help="Password (default: generate and print one).")] = None,
    project: ProjectDir = Path("."),
) -> None:
    """Create an account (signup is off: accounts are made here or by an admin in the UI).

    Example: [bold]labelloop user add alice --role annotator -p my-project[/]
    """
    p, users = _users(project)
    with p:
        user, pw = users.add(name, role, password)
    shown = f", password [bold]{pw}[/]" if password is None else ""
    console.print(f"added {user.role} [bold]{user.name}[/]{shown}", highlight=False)


@user_app.command("token")
def token(
    name: Annotated[str, typer.Argument(help="User name.")],
    label: Annotated[str, typer.Option("--name", help="What the token is for.")] = "cli",
    expires_days: Annotated[float | None, typer.Option(
        help="The token stops working after this many days (default: never).")] = None,
    project: ProjectDir = Path("."),
) -> None:
    """Create an API token for a user (for labelloop.Client and scripts); printed once."""
    p, users = _users(project)
    with p:
        user = users.by_name(name)
        console.print(users.create_token(user.id or 0, label, expires_days=expires_days),
                      highlight=False, soft_wrap=True)


@user_app.command("tokens")
def tokens(name: Annotated[str, typer.Argument(help="User name.")],
           project: ProjectDir = Path(".")) -> None:
    """List a user's API tokens: id, name, created, expires, last used."""
    p, users = _users(project)
    with p:
        found = users.tokens(users.by_name(name).id or 0)
    for t in found:
        console.print(f"{t.id}\t{t.name or '-'}\tcreated {t.created_at:%Y-%m-%d %H:%M}\t"
                      f"expires {_when(t.expires_at, 'never')}\t"
                      f"last used {_when(t.last_used_at, 'never')}", highlight=False,
                      soft_wrap=True)
    if not found:
        console.print(f"{name} has no API tokens", highlight=False)


def _when(ts: datetime | None, default: str) -> str:
    return default if ts is None else f"{ts:%Y-%m-%d %H:%M}"


@user_app.command("revoke-token")
def revoke_token(name: Annotated[str, typer.Argument(help="User name.")],
                 token_id: Annotated[int, typer.Argument(help="Token id (labelloop user tokens).")],
                 project: ProjectDir = Path(".")) -> None:
    """Revoke one of a user's API tokens.

    Example: [bold]labelloop user revoke-token alice 3 -p my-project[/]
    """
    p, users = _users(project)
    with p:
        users.revoke_token(users.by_name(name).id or 0, token_id)
    console.print(f"revoked token {token_id} of {name}", highlight=False)


@user_app.command("list")
def list_users(project: ProjectDir = Path(".")) -> None:
    """List the accounts."""
    p, users = _users(project)
    with p:
        for u in users.list():
            console.print(f"{u.name}\t{u.role}\t{'active' if u.active else 'inactive'}",
                          highlight=False)


@user_app.command("deactivate")
def deactivate(name: Annotated[str, typer.Argument(help="User name.")],
               project: ProjectDir = Path(".")) -> None:
    """Deactivate an account (its sessions end, its tokens stop working)."""
    p, users = _users(project)
    with p:
        user = users.by_name(name)
        users.set_active(user.id or 0, False)
        console.print(f"deactivated {name}")


@user_app.command("grant")
def grant(name: Annotated[str, typer.Argument(help="User name.")],
          project: ProjectDir = Path(".")) -> None:
    """Admit a user to the project and make it members-only: only members (and admins)
    see it, until an admin opens it (labelloop user open-project).

    Example: [bold]labelloop user grant alice -p my-project[/]
    """
    from labelloop.services.members import Members

    p, users = _users(project)
    with p:
        user = users.by_name(name)
        members = Members(p.store)
        members.grant(p.id, user.id or 0)
        n = len(members.user_ids(p.id))
    console.print(f"{name} is a member of {p.name} ({n} member(s); others cannot see it)",
                  highlight=False)


@user_app.command("open-project")
def open_project_cmd(
    closed: Annotated[bool, typer.Option(
        "--members-only/--everyone", help="Restrict to members, or open to every user.")] = False,
    project: ProjectDir = Path("."),
) -> None:
    """Open the project to every user (--everyone, the default) or make it members-only.

    Removing members never opens a project; this command does.
    """
    from labelloop.services.members import Members

    p = open_project(project)
    with p:
        Members(p.store).set_members_only(p.id, closed)
    console.print(f"{p.name} is {'members-only' if closed else 'open to every user'}",
                  highlight=False)


@user_app.command("revoke")
def revoke(name: Annotated[str, typer.Argument(help="User name.")],
           project: ProjectDir = Path(".")) -> None:
    """Remove a user from the project (it stays members-only, even with no members left).

    Example: [bold]labelloop user revoke alice -p my-project[/]
    """
    from labelloop.services.members import Members

    p, users = _users(project)
    with p:
        user = users.by_name(name)
        members = Members(p.store)
        if not members.revoke(p.id, user.id or 0):
            raise NotFoundError(f"{name} is not a member of {p.name}")
        left = len(members.user_ids(p.id))
    console.print(f"{name} removed from {p.name}"
                  + ("; only admins see it now" if not left else ""), highlight=False)
