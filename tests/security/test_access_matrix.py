"""Role x route x own/foreign object: every route of the app against the table in
``access_matrix.yaml``.

Each route of ``app.routes`` needs an entry in the table (a new route without one fails
:func:`test_every_route_has_an_entry`) and a way to call it in :data:`CALLS`. Each cell runs
on a fresh copy of one SQLite world (see ``access_world.py``):

- ``anonymous``: no credentials;
- ``annotator``, ``reviewer``, ``admin``: API routes with the user's bearer token, pages with
  the user's session cookie and CSRF token;
- scope ``own``: the object in the path is the caller's (an item the caller holds, the
  caller's own user id); ``foreign``: someone else's (an item OTHER answered, OTHER's user
  id, a token of OTHER's); ``held``: an item OTHER holds a claim on; ``nonmember``: both
  projects are members-only and the caller (with the ids of ``own``) is not a member.
- anonymous callers use the ids of ``foreign``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from access_world import OTHER, ROLES, Base, build_base, clone
from fastapi.testclient import TestClient
from httpx import Response
from server_world import PASSWORD

from labelloop.errors import AuthenticationError
from labelloop.server.security import CSRF_FIELD, SESSION_COOKIE, csrf_token
from labelloop.services.members import Members
from labelloop.services.users import Users

TABLE_FILE = Path(__file__).with_name("access_matrix.yaml")
TABLE: dict[str, dict[str, Any]] = yaml.safe_load(TABLE_FILE.read_text())
CALLERS = ("anonymous", *ROLES)
SETTINGS_FORM = {"overlap": "1", "honeypot_rate": "0", "claim_minutes": "30",
               "review_threshold": "0.8"}


@dataclass(frozen=True)
class Case:
    """What one cell calls: ids resolved for the caller and scope."""

    base: Base
    caller: str
    scope: str

    @property
    def who(self) -> str:
        return "annotator" if self.caller == "anonymous" else self.caller

    @property
    def mine(self) -> bool:
        return self.scope in ("own", "nonmember") and self.caller != "anonymous"

    def item(self, project: str) -> int:
        if self.scope == "held":
            return self.base.held[project]
        own = self.base.own_a if project == "a" else self.base.own_b
        return own[self.who] if self.mine else self.base.answered[project]

    @property
    def user_id(self) -> int:
        return self.base.ids[self.who] if self.mine else self.base.ids[OTHER]


Facts = dict[str, Any]


@dataclass(frozen=True)
class Call:
    """How to call a route: which project, query, body, a setup step on the store (its
    facts fill the path, e.g. ``token_id``) and a check of the store and response after
    the call."""

    project: str = "a"
    query: Callable[[Case], dict[str, Any]] | None = None
    body: Callable[[Case, TestClient], dict[str, Any]] | None = None
    setup: Callable[[Case, Any], Facts | None] | None = None
    check: Callable[[Case, Any, Facts, Response], None] | None = None


def _json(data: dict[str, Any]) -> Callable[[Case, TestClient], dict[str, Any]]:
    return lambda case, client: {"json": data}


def _form(extra: Callable[[Case], dict[str, Any]] | None = None
          ) -> Callable[[Case, TestClient], dict[str, Any]]:
    return lambda case, client: {"data": extra(case) if extra else {}}


def _upload(case: Case, client: TestClient) -> dict[str, Any]:
    return {"files": {"file": ("more.csv", b"text\nbrand new comment\n", "text/csv")}}


def _login_form(case: Case, client: TestClient) -> dict[str, Any]:
    nonce = client.get("/login").cookies.get("labelloop_login") or ""
    return {"data": {"name": case.who, "password": PASSWORD, "nonce": nonce, "next": "/"}}


def _grant(case: Case, store: Any) -> None:
    Members(store).grant(case.base.a, case.user_id)


OWN_TOKEN, FOREIGN_TOKEN = "own token", "foreign token"


def _tokens(case: Case, store: Any) -> Facts:
    """Give the caller (``own``) and OTHER (``foreign``) an API token each; the path gets the
    token of the case's user (``Case.user_id``)."""
    users, made = Users(store), {}
    for owner, name in ((case.base.ids[case.who], OWN_TOKEN), (case.base.ids[OTHER],
                                                               FOREIGN_TOKEN)):
        raw = users.create_token(owner, name)
        made[owner] = {"token_id": users.tokens(owner)[-1].id, "raw": raw}
    return made[case.user_id]


def _lists_own_tokens(case: Case, store: Any, facts: Facts, r: Response) -> None:
    if r.status_code == 200:
        assert OWN_TOKEN in r.text and FOREIGN_TOKEN not in r.text, "not only own tokens"


def _revoked_if(by: Callable[[Case], bool]) -> Callable[[Case, Any, Facts, Response], None]:
    """A check that the path's token stopped working exactly when ``by(case)``."""
    def check(case: Case, store: Any, facts: Facts, r: Response) -> None:
        try:
            Users(store).token_user(facts["raw"])
            works = True
        except AuthenticationError:
            works = False
        assert works != by(case), f"token of user {case.user_id}: works={works}"
    return check


_OWN_REVOKE = Call(setup=_tokens, check=_revoked_if(lambda c: c.mine))
OTHERS_COMMENT = "a comment by another annotator"


def _others_comment(case: Case, store: Any) -> Facts:
    """OTHER comments on the item of the case (which callers must not read unless they
    review)."""
    store.add_comment(case.base.a, case.item("a"), case.base.ids[OTHER], OTHERS_COMMENT)
    return {}


def _reads_others_comment_if_reviewing(case: Case, store: Any, facts: Facts,
                                       r: Response) -> None:
    if r.status_code == 200:
        assert (OTHERS_COMMENT in r.text) == (case.caller != "annotator"), r.text

CALLS: dict[str, Call] = {
    "GET /api/v1/openapi.json": Call(),
    "POST /api/v1/auth/login": Call(body=lambda c, _: {
        "json": {"name": c.who, "password": PASSWORD}}),
    "POST /api/v1/auth/logout": Call(),
    "GET /api/v1/me": Call(),
    "POST /api/v1/me/tokens": Call(body=_json({"name": "x"})),
    "GET /api/v1/me/tokens": Call(setup=_tokens, check=_lists_own_tokens),
    "DELETE /api/v1/me/tokens/{token_id}": _OWN_REVOKE,
    "GET /api/v1/users": Call(),
    "POST /api/v1/users": Call(body=_json({"name": "newcomer", "role": "annotator"})),
    "PATCH /api/v1/users/{user_id}": Call(body=_json({"active": True})),
    "POST /api/v1/users/{user_id}/tokens": Call(body=_json({"name": "x"})),
    "GET /api/v1/users/{user_id}/tokens": Call(setup=_tokens),
    "DELETE /api/v1/users/{user_id}/tokens/{token_id}": Call(
        setup=_tokens, check=_revoked_if(lambda c: c.caller == "admin")),
    "GET /api/v1/projects": Call(),
    "GET /api/v1/projects/{project_id}": Call(),
    "POST /api/v1/projects/{project_id}/queue/next": Call(),
    "GET /api/v1/projects/{project_id}/items/{item_id}/task": Call(),
    "PUT /api/v1/projects/{project_id}/items/{item_id}/annotation": Call(
        body=_json({"label": "spam"})),
    "POST /api/v1/projects/{project_id}/items/{item_id}/skip": Call(),
    "GET /api/v1/projects/{project_id}/undo": Call(),
    "GET /api/v1/projects/{project_id}/scorecard": Call(),
    "GET /api/v1/projects/{project_id}/items/{item_id}/image": Call(project="b"),
    "GET /api/v1/projects/{project_id}/items/{item_id}/comments": Call(
        setup=_others_comment, check=_reads_others_comment_if_reviewing),
    "POST /api/v1/projects/{project_id}/items/{item_id}/comments": Call(
        body=_json({"text": "is this spam?"})),
    "POST /p/{project_id}/items/{item_id}/comments": Call(
        body=_form(lambda c: {"text": "is this spam?"}), setup=_others_comment,
        check=_reads_others_comment_if_reviewing),
    "GET /api/v1/projects/{project_id}/items": Call(),
    "GET /api/v1/projects/{project_id}/items/{item_id}": Call(),
    "GET /api/v1/projects/{project_id}/review": Call(),
    "POST /api/v1/projects/{project_id}/items/{item_id}/review": Call(
        body=_json({"decision": "correct", "label": "spam"})),
    "GET /api/v1/projects/{project_id}/scorecards": Call(),
    "GET /api/v1/projects/{project_id}/dashboard": Call(),
    "GET /api/v1/projects/{project_id}/browse": Call(),
    "GET /api/v1/projects/{project_id}/browse/export": Call(),
    "POST /api/v1/projects/{project_id}/browse/bulk": Call(
        body=_json({"action": "set_split", "split": "train"})),
    "PATCH /api/v1/projects/{project_id}/settings": Call(body=_json({"overlap": 1})),
    "POST /api/v1/projects/{project_id}/import": Call(body=_upload),
    "GET /api/v1/projects/{project_id}/export": Call(),
    "GET /api/v1/projects/{project_id}/members": Call(),
    "PUT /api/v1/projects/{project_id}/members/{user_id}": Call(),
    "DELETE /api/v1/projects/{project_id}/members/{user_id}": Call(setup=_grant),
    "GET /login": Call(),
    "POST /login": Call(body=_login_form),
    "POST /logout": Call(body=_form()),
    "GET /": Call(),
    "GET /p/{project_id}/label": Call(query=lambda c: {"item": c.item("a")}),
    "GET /p/{project_id}/review": Call(),
    "GET /p/{project_id}/review/{item_id}": Call(),
    "POST /p/{project_id}/review/{item_id}": Call(body=_form(lambda c: {
        "decision": "correct", "label": "spam"})),
    "GET /p/{project_id}/dashboard": Call(),
    "GET /p/{project_id}/items": Call(),
    "POST /p/{project_id}/items/bulk": Call(body=_form(lambda c: {
        "action": "set_split", "scope": "filter", "split": "train"})),
    "POST /p/{project_id}/members": Call(body=_form(lambda c: {"user_id": c.user_id})),
    "POST /p/{project_id}/members/access": Call(body=_form(lambda c: {
        "members_only": "true"})),
    "POST /p/{project_id}/members/{user_id}/remove": Call(body=_form(), setup=_grant),
    "POST /p/{project_id}/settings": Call(body=_form(lambda c: SETTINGS_FORM)),
    "POST /p/{project_id}/classes": Call(body=_form(lambda c: {"added": "extra"})),
    "POST /p/{project_id}/instructions": Call(body=_form(lambda c: {"instructions": "be kind"})),
    "POST /projects": Call(body=_form(lambda c: {
        "name": "fresh", "task": "text-classification", "classes": "a\nb"})),
    "GET /admin/users": Call(),
    "POST /admin/users": Call(body=_form(lambda c: {
        "name": "newcomer", "role": "annotator", "password": "a long enough passphrase"})),
    "POST /admin/users/{user_id}/active": Call(body=_form(lambda c: {"active": "true"})),
    "POST /p/{project_id}/import": Call(body=_upload),
    "GET /p/{project_id}/import/{job_id}": Call(setup=lambda c, store: {"job_id": "unknown"}),
    "GET /account": Call(setup=_tokens, check=_lists_own_tokens),
    "POST /account/tokens": Call(body=_form(lambda c: {"name": "x", "expires_days": "30"})),
    "POST /account/tokens/{token_id}/revoke": _OWN_REVOKE,
    "GET /static/{path}": Call(),
    "GET /api/v1/docs": Call(),
    "GET /api/v1/docs/assets/swagger-ui-bundle.js": Call(),
    "GET /api/v1/docs/assets/swagger-ui.css": Call(),
}


def served_routes(app: Any) -> set[str]:
    """``METHOD path`` of every route the app serves (mounts as ``GET mount/{path}``)."""
    try:  # FastAPI >= 0.12x keeps included routers as contexts
        from fastapi.routing import iter_route_contexts

        routes = [(ctx.path, ctx.methods) for ctx in iter_route_contexts(app.routes)]
    except ImportError:
        routes = [(r.path, getattr(r, "methods", None)) for r in app.routes]
    served = set()
    for path, methods in routes:
        if methods is None:
            served.add(f"GET {path}/{{path}}")
            continue
        served.update(f"{m} {path}" for m in methods if m != "HEAD")
    return served


def scopes(route: str, caller: str) -> list[str]:
    """The scopes that differ for a route: objects in the path, membership of projects."""
    if caller == "anonymous":
        return ["own"]
    out = ["own"]
    items = "{item_id}" in route or route == "GET /p/{project_id}/label"
    if items or "{user_id}" in route or "{token_id}" in route:
        out.append("foreign")
    if items:
        out.append("held")
    if "{project_id}" in route:
        out.append("nonmember")
    return out


def expected(route: str, caller: str, scope: str) -> str:
    """The table's status for a cell: an exact code or a class like ``2xx``."""
    cell = TABLE[route][caller]
    return str(cell[scope] if isinstance(cell, dict) else cell)


def cells() -> Iterator[Any]:
    for route in TABLE:
        for caller in CALLERS:
            for scope in scopes(route, caller):
                want = expected(route, caller, scope)
                marks = []
                if want.startswith("xfail "):
                    marks.append(pytest.mark.xfail(strict=True, reason=want[6:]))
                yield pytest.param(route, caller, scope, id=f"{route}|{caller}|{scope}",
                                   marks=marks)


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> dict[bool, Base]:
    return {restricted: build_base(tmp_path_factory.mktemp(f"base{int(restricted)}"),
                                   restricted=restricted) for restricted in (False, True)}


def observe(base: Base, tmp: Path, route: str, caller: str, scope: str) -> int:
    """Run one cell on a fresh copy of the world; return the status code."""
    method, template = route.split(" ", 1)
    call = CALLS[route]
    case = Case(base, caller, scope)
    app, store = clone(base, tmp)
    try:
        facts = (call.setup(case, store) if call.setup else None) or {}
        with TestClient(app, follow_redirects=False) as client:
            headers: dict[str, str] = {}
            if caller != "anonymous":
                if template.startswith("/api/"):
                    headers["Authorization"] = f"Bearer {base.tokens[caller]}"
                else:
                    client.cookies.set(SESSION_COOKIE, base.sessions[caller])
            kwargs = call.body(case, client) if call.body else {}
            if caller != "anonymous" and not template.startswith("/api/") and method == "POST":
                kwargs.setdefault("data", {})[CSRF_FIELD] = csrf_token(
                    app.state.ctx.secret, base.sessions[caller])
            project = base.a if call.project == "a" else base.b
            path = template.format(project_id=project, item_id=case.item(call.project),
                                   user_id=case.user_id, path="app.css", **facts)
            params = call.query(case) if call.query else None
            r = client.request(method, path, headers=headers, params=params, **kwargs)
        if call.check is not None:
            call.check(case, store, facts, r)
        return r.status_code
    finally:
        store.close()


def matches(status: int, want: str) -> bool:
    """Whether a status fits an expectation such as ``404``, ``2xx`` or ``xfail 200``."""
    want = want.removeprefix("xfail ").split(":")[0].strip()
    if want.endswith("xx"):
        return str(status)[0] == want[0]
    return status == int(want)


def test_every_route_has_an_entry(bases: dict[bool, Base], tmp_path: Path) -> None:
    app, store = clone(bases[False], tmp_path)
    store.close()
    served = served_routes(app)
    assert sorted(served - set(TABLE)) == [], "routes without a row in access_matrix.yaml"
    assert sorted(set(TABLE) - served) == [], "rows in access_matrix.yaml of no route"
    assert set(TABLE) == set(CALLS)
    for route, row in TABLE.items():
        assert set(row) == set(CALLERS), route
        for caller, cell in row.items():
            if isinstance(cell, dict):
                assert set(cell) == set(scopes(route, caller)), (route, caller)


@pytest.mark.parametrize(("route", "caller", "scope"), list(cells()))
def test_cell(bases: dict[bool, Base], tmp_path: Path, route: str, caller: str,
              scope: str) -> None:
    base = bases[scope == "nonmember"]
    status = observe(base, tmp_path, route, caller, scope)
    want = expected(route, caller, scope)
    assert matches(status, want), f"{route} as {caller} ({scope}): {status}, table says {want}"
