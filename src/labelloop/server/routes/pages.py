"""HTML pages: login, annotator home, labeling, review, dashboard, users.

Pages are thin: they call the same services as the API and render Jinja templates
(autoescaped). Forms carry the session's CSRF token; the labeling page posts JSON to the API.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from importlib import resources
from itertools import pairwise
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

import jinja2
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from labelloop.core.records import UserRecord
from labelloop.errors import LabelloopError, ValidationError
from labelloop.server.deps import (
    Admin,
    Ctx,
    Labeler,
    ProjectDep,
    QualityViewer,
    Reviewer,
    ServerContext,
    User,
)
from labelloop.server.policies import allowed
from labelloop.server.routes.accounts import login
from labelloop.server.routes.convert import entry_out, scorecard_out, task_out
from labelloop.server.routes.labeling import my_card
from labelloop.server.schemas.api import ProjectOut, SettingsPatch, SpanIO
from labelloop.server.security import LOGIN_COOKIE, SESSION_COOKIE, csrf_token
from labelloop.services.comments import COMMENT_MAX, Comments
from labelloop.services.progress import progress, why_chosen
from labelloop.services.project import ProjectInfo
from labelloop.services.spending import spending

router = APIRouter(include_in_schema=False)
REVIEW_PAGE = 100  # review list rows per page (200 cost ~250-300 ms of CPU at 100k items)
WAITING_SHOWN = 1000  # items waiting for an annotator are counted up to this ("1000+")
templates = Jinja2Templates(env=jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(resources.files("labelloop.server") / "ui" / "templates")),
    autoescape=True,
))


def _page(request: Request, name: str, user: UserRecord | None, status: int = 200,
          **context: Any) -> HTMLResponse:
    ctx = request.app.state.ctx
    raw = getattr(request.state, "session", None) or request.cookies.get(SESSION_COOKIE)
    csrf = csrf_token(ctx.secret, raw) if raw and user is not None else ""
    can = {a: user is not None and allowed(user, a)
           for a in ("review", "view_quality", "manage")}
    return templates.TemplateResponse(
        request, name, {"user": user, "csrf": csrf, "can": can, **context}, status_code=status
    )


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    """An HTML error page (used by the app's exception handlers); for an htmx request, the
    message alone, which htmx swaps into the form's result area (``responseHandling`` in
    ``base.html``)."""
    if request.headers.get("HX-Request") == "true":
        return _page(request, "error_fragment.html", None, status=status, message=message)
    return _page(request, "error.html", None, status=status, status_code=status,
                 message=message)


def login_redirect(request: Request) -> Response:
    """Where a request without a valid session goes: the login page, back to the page
    afterwards (for htmx, the page the request came from, through ``HX-Redirect``)."""
    if request.headers.get("HX-Request") == "true":
        page = urlsplit(request.headers.get("HX-Current-URL", "")).path or "/"
        target = f"/login?error=expired&next={quote(_safe_next(page))}"
        return Response(status_code=401, headers={"HX-Redirect": target})
    return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)


# ``/login?error=`` shows one of these fixed messages, never the text of the link
LOGIN_ERRORS = {"expired": "your session expired; log in again",
                "logged_out": "you are logged out"}


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/"


@router.get("/login")
def login_form(request: Request, next: str | None = None, error: str | None = None) -> Response:
    """The login form (signup is off: an admin creates accounts)."""
    nonce = secrets.token_urlsafe(16)
    resp = _page(request, "login.html", None, next=_safe_next(next), nonce=nonce,
                 error=LOGIN_ERRORS.get(error or ""))
    resp.set_cookie(LOGIN_COOKIE, nonce, httponly=True, samesite="strict", path="/login")
    return resp


@router.post("/login")
def login_submit(
    request: Request, ctx: Ctx, name: Annotated[str, Form()],
    password: Annotated[str, Form()], nonce: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Log in from the form (rate limited)."""
    if not nonce or nonce != request.cookies.get(LOGIN_COOKIE):
        return _page(request, "login.html", None, status=400, next=_safe_next(next),
                     nonce=nonce, error="the form expired; try again")
    resp = RedirectResponse(_safe_next(next), status_code=303)
    try:
        login(ctx, request, resp, name, password)
    except LabelloopError as exc:
        fresh = secrets.token_urlsafe(16)
        page = _page(request, "login.html", None, status=exc.http_status,
                     next=_safe_next(next), nonce=fresh, error=exc.message)
        page.set_cookie(LOGIN_COOKIE, fresh, httponly=True, samesite="strict", path="/login")
        return page
    resp.delete_cookie(LOGIN_COOKIE, path="/login")
    return resp


@router.post("/logout")
def logout(request: Request, user: User, ctx: Ctx) -> Response:
    """End the session."""
    ctx.users.end_session(request.state.session)
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


@router.get("/")
def home(request: Request, user: Labeler, ctx: Ctx) -> Response:
    """Annotator home: projects, own scorecard and feedback, links by role."""
    return home_page(request, user, ctx)


def home_page(request: Request, user: UserRecord, ctx: ServerContext, status: int = 200,
              **extra: Any) -> HTMLResponse:
    """The home page (``extra``: what the new-project form shows after a refusal)."""
    rows = []
    for p in ctx.projects(user):
        review = ctx.review(p)
        card = my_card(ctx, p, user)
        rows.append({
            "project": ProjectOut.of(p), "card": scorecard_out(card) if card.labeled else None,
            "counts": ctx.queue(p).counts(user, limit=WAITING_SHOWN),
            "to_review": review.count(limit=1000) if allowed(user, "review") else None,
        })
    return _page(request, "home.html", user, status=status, rows=rows, **extra)


def comments_panel(ctx: ServerContext, project: ProjectInfo, user: UserRecord, item_id: int
              ) -> dict[str, Any]:
    """What ``comments.html`` shows of an item (the caller checked that the user may see
    it): the comments the user may read and, for reviewers, whom a reply may address
    (the other people who commented)."""
    see_all = allowed(user, "review")
    found = Comments(ctx.store, project).visible(user, item_id, see_all=see_all)
    people = {c.author_id: c.author for c in found if c.author_id != user.id}
    return {"comments": found, "comment_max": COMMENT_MAX,
            "repliable": sorted(people.items(), key=lambda p: p[1]) if see_all else []}


@router.get("/p/{project_id}/label")
def label_page(request: Request, project: ProjectDep, user: Labeler, ctx: Ctx,
               item: int | None = None) -> Response:
    """The labeling page: your open task, the next one, or an earlier item (undo)."""
    queue = ctx.queue(project)
    task = queue.next(user) if item is None else queue.task(user, item)
    if task is None:
        return _page(request, "done.html", user, project=ProjectOut.of(project),
                     counts=queue.counts(user, limit=WAITING_SHOWN))
    out = task_out(project, task)
    fresh = item is None  # progress and the queue's reason: for a task just served
    return _page(request, "label.html", user, project=ProjectOut.of(project), task=out,
                 task_json=out.model_dump(mode="json"), edit=item is not None,
                 note=ctx.review(project).send_back_note(out.item.id),
                 progress=progress(ctx.store, project, user) if fresh else None,
                 why=why_chosen(ctx.store, project, out.item.id) if fresh else None,
                 item_id=out.item.id, **comments_panel(ctx, project, user, out.item.id))


@router.get("/p/{project_id}/review")
def review_list(request: Request, project: ProjectDep, user: Reviewer, ctx: Ctx,
                reason: str | None = None, after: int = 0) -> Response:
    """Items waiting for review, a page at a time (``after``: the last item id shown)."""
    entries = [entry_out(project, e) for e in
               ctx.review(project).queue(reason=reason or None, limit=REVIEW_PAGE,
                                         after=after)]
    next_after = entries[-1].item.id if len(entries) == REVIEW_PAGE else None
    return _page(request, "review.html", user, project=ProjectOut.of(project),
                 entries=entries, reason=reason, next_after=next_after)


@router.get("/p/{project_id}/review/{item_id}")
def review_item(request: Request, project: ProjectDep, item_id: int, user: Reviewer,
                ctx: Ctx, reason: str | None = None) -> Response:
    """One item with every vote, and the decision forms (``reason``: the list's filter,
    kept for the next item)."""
    entry = entry_out(project, ctx.review(project).entry(item_id))
    answers = []
    for v in entry.votes:
        if v.answer not in answers:
            answers.append(v.answer)
    marked = []
    if project.schema.task_type.has_spans:
        text = str(entry.item.data.get("text", ""))
        marked = [span_segments(text, v.answer.spans or [], project.schema.names)
                  for v in entry.votes]
    return _page(request, "review_item.html", user, project=ProjectOut.of(project),
                 entry=entry, answers=answers, entry_json=entry.model_dump(mode="json"),
                 reason=reason or None, marked=marked, item_id=item_id,
                 **comments_panel(ctx, project, user, item_id))


@dataclass(frozen=True)
class Segment:
    """A piece of text with the span drawn on it (``label`` None: no span), and the labels
    of the spans that end with it."""

    text: str
    label: str | None = None
    color: int = 0
    ends: tuple[str, ...] = ()


def span_segments(text: str, spans: list[SpanIO], names: list[str]) -> list[Segment]:
    """``text`` cut at every span bound; a piece inside several spans shows the one that
    starts last (offsets count code points, as Python strings do)."""
    bounds = sorted({0, len(text), *(min(max(int(s.start), 0), len(text)) for s in spans),
                     *(min(max(int(s.end), 0), len(text)) for s in spans)})
    out = []
    for x, y in pairwise(bounds):
        over = [s for s in spans if s.start <= x and y <= s.end]
        top = max(over, key=lambda s: (s.start, -s.end), default=None)
        label = None if top is None else str(top.label)
        out.append(Segment(text[x:y], label, names.index(label) % 9 if label in names else 0,
                           tuple(str(s.label) for s in over if s.end == y)))
    return out


@router.post("/p/{project_id}/review/{item_id}")
def review_submit(
    request: Request, project: ProjectDep, item_id: int, user: Reviewer, ctx: Ctx,
    decision: Annotated[str, Form()], vote: Annotated[str | None, Form()] = None,
    label: Annotated[str | None, Form()] = None,
    labels: Annotated[list[str] | None, Form()] = None, note: Annotated[str, Form()] = "",
    reason: str | None = None,
) -> Response:
    """A decision from the review form; goes on to the next flagged item (of the list's
    filter ``reason``, when it had one).

    ``accept`` keeps the answer of the source named ``vote``; ``correct`` takes ``label``
    (or ``labels`` for multi-label tasks).
    """
    review = ctx.review(project)
    review.decide(user, item_id, decision, {"label": label, "labels": labels or []}, note,
                  vote=vote if decision == "accept" else None)
    nxt = review.queue(reason=reason or None, limit=1)
    keep = f"?reason={quote(reason)}" if reason else ""
    target = (f"/p/{project.id}/review/{nxt[0].item.id}{keep}" if nxt
              else f"/p/{project.id}/review{keep}")
    return RedirectResponse(target, status_code=303)


@router.get("/p/{project_id}/dashboard")
def dashboard(request: Request, project: ProjectDep, user: QualityViewer, ctx: Ctx,
              partial: bool = False) -> Response:
    """Admin dashboard: progress, agreement, honeypots, coverage, settings, import/export."""
    name = "dashboard_stats.html" if partial else "dashboard.html"
    d = ctx.review(project).dashboard(ctx.users.list())
    return _page(request, name, user, project=ProjectOut.of(project), d=d,
                 spend=spending(d.status, project.settings),
                 **(_members(project, ctx) if allowed(user, "manage") else {}))


def _members(project: ProjectInfo, ctx: ServerContext) -> dict[str, Any]:
    """Members of a project and the active non-admin users who could be admitted."""
    ids = set(ctx.members.user_ids(project.id))
    everyone = ctx.users.list()
    return {
        "members": [u for u in everyone if u.id in ids],
        "candidates": [u for u in everyone
                       if u.id not in ids and u.active and u.role != "admin"],
    }


@router.post("/p/{project_id}/members")
def members_add(request: Request, project: ProjectDep, user: Admin, ctx: Ctx,
                user_id: Annotated[int, Form()]) -> Response:
    """Admit a user to the project (htmx swaps in the member list)."""
    ctx.members.grant(project.id, user_id)
    return _members_page(request, project, user, ctx)


def _members_page(request: Request, project: ProjectInfo, user: UserRecord,
                  ctx: ServerContext) -> Response:
    fresh = ctx.members.project(user, project.id)
    return _page(request, "members.html", user, project=ProjectOut.of(fresh),
                 **_members(fresh, ctx))


@router.post("/p/{project_id}/members/access")
def members_access(request: Request, project: ProjectDep, user: Admin, ctx: Ctx,
                   members_only: Annotated[bool, Form()]) -> Response:
    """Make the project members-only, or open it to every user (htmx swaps the list)."""
    ctx.members.set_members_only(project.id, members_only)
    return _members_page(request, project, user, ctx)


@router.post("/p/{project_id}/members/{user_id}/remove")
def members_remove(request: Request, project: ProjectDep, user_id: int, user: Admin,
                   ctx: Ctx) -> Response:
    """Remove a user from the project (htmx swaps in the member list)."""
    ctx.members.revoke(project.id, user_id)
    return _members_page(request, project, user, ctx)


@router.post("/p/{project_id}/settings")
def save_settings(
    request: Request, project: ProjectDep, user: Admin, ctx: Ctx,
    overlap: Annotated[int, Form()], honeypot_rate: Annotated[float, Form()],
    claim_minutes: Annotated[int, Form()], review_threshold: Annotated[float, Form()],
    honeypot_feedback: Annotated[bool, Form()] = False,
    routing: Annotated[str | None, Form()] = None,
    experts: Annotated[str | None, Form()] = None,
    hard_below: Annotated[float | None, Form()] = None,
    price_per_label: Annotated[float | None, Form()] = None,
    price_per_expert_label: Annotated[float | None, Form()] = None,
    prices_shown: Annotated[bool, Form()] = False,
) -> Response:
    """Save project settings (htmx swaps in the confirmation). Routing fields left out
    keep their values; prices are set only from a form that shows them
    (``prices_shown``), where an empty price clears it."""
    routed: dict[str, Any] = {}
    if routing is not None:
        routed["routing"] = routing
    if experts is not None:
        routed["experts"] = [n.strip() for n in experts.split(",") if n.strip()]
    if hard_below is not None:
        routed["hard_below"] = hard_below
    prices = ({"price_per_label": price_per_label,
               "price_per_expert_label": price_per_expert_label} if prices_shown else {})
    try:
        patch = SettingsPatch(overlap=overlap, honeypot_rate=honeypot_rate,
                              claim_minutes=claim_minutes, review_threshold=review_threshold,
                              honeypot_feedback=honeypot_feedback, **routed)
    except ValueError as exc:
        raise ValidationError(f"invalid settings: {exc}") from None
    service = ctx.project_service(project)
    service.update_settings(**patch.model_dump(exclude_none=True), **prices)
    return _page(request, "settings_saved.html", user, project=ProjectOut.of(service.info))


@router.get("/admin/users")
def users_page(request: Request, user: Admin, ctx: Ctx) -> Response:
    """Users: add, deactivate, reactivate."""
    return _page(request, "users.html", user, users=ctx.users.list(), created=None)


@router.post("/admin/users")
def users_add(request: Request, user: Admin, ctx: Ctx, name: Annotated[str, Form()],
              role: Annotated[str, Form()], password: Annotated[str, Form()] = "") -> Response:
    """Add a user; the generated password is shown once. A refused name, role or password
    is shown above the form, which keeps the name and role typed."""
    try:
        created, pw = ctx.users.add(name, role, password or None)
    except LabelloopError as exc:
        return _page(request, "users.html", user, status=exc.http_status,
                     users=ctx.users.list(), created=None, error=exc.message,
                     typed={"name": name, "role": role})
    return _page(request, "users.html", user, users=ctx.users.list(),
                 created={"name": created.name, "password": pw if not password else None})


@router.post("/admin/users/{user_id}/active")
def users_active(user_id: int, user: Admin, ctx: Ctx,
                 active: Annotated[bool, Form()] = False) -> Response:
    """Deactivate or reactivate a user."""
    ctx.users.set_active(user_id, active)
    return RedirectResponse("/admin/users", status_code=303)


# -- account: your API tokens ----------------------------------------------------------
def _account(request: Request, user: User, ctx: Ctx, new_token: str | None = None) -> Response:
    return _page(request, "account.html", user, tokens=ctx.users.tokens(user.id or 0),
                 new_token=new_token)


@router.get("/account")
def account(request: Request, user: User, ctx: Ctx) -> Response:
    """Your API tokens: name, created, expires, last used; revoke buttons."""
    return _account(request, user, ctx)


@router.post("/account/tokens")
def account_token(request: Request, user: User, ctx: Ctx,
                  name: Annotated[str, Form(max_length=100)] = "",
                  expires_days: Annotated[str, Form()] = "") -> Response:
    """Create an API token; it is shown once on the page that answers."""
    days = None
    if expires_days.strip():
        try:
            days = float(expires_days)
        except ValueError:
            raise ValidationError(f"expires after: expected a number of days, got "
                                  f"{expires_days[:20]!r}") from None
    raw = ctx.users.create_token(user.id or 0, name, expires_days=days)
    return _account(request, user, ctx, new_token=raw)


@router.post("/account/tokens/{token_id}/revoke")
def account_revoke(token_id: int, user: User, ctx: Ctx) -> Response:
    """Revoke one of your API tokens."""
    ctx.users.revoke_token(user.id or 0, token_id)
    return RedirectResponse("/account", status_code=303)
