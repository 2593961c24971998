"""Every API route for every role, and another project's ids (404, never the data)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from server_world import OTHER, World, login

ANY, REVIEWER, ADMIN = "annotator", "reviewer", "admin"
RANK = {"annotator": 0, "reviewer": 1, "admin": 2}


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    least: str
    body: Callable[[World, dict[str, Any]], dict[str, Any]] | None = None
    ok: tuple[int, ...] = (200, 201, 204)


def _text(w: World, claimed: dict[str, Any]) -> dict[str, Any]:
    return {"json": {"label": "ham"}}


def _decision(w: World, claimed: dict[str, Any]) -> dict[str, Any]:
    return {"json": {"decision": "correct", "label": "spam"}}


def _new_user(w: World, claimed: dict[str, Any]) -> dict[str, Any]:
    return {"json": {"name": f"new-{len(w.ids)}", "role": "annotator"}}


def _upload(w: World, claimed: dict[str, Any]) -> dict[str, Any]:
    return {"files": {"file": ("more.csv", b"text\nbrand new comment\n", "text/csv")}}


ROUTES = [
    Route("GET", "/me", ANY),
    Route("POST", "/me/tokens", ANY, lambda w, c: {"json": {"name": "x"}}),
    Route("GET", "/me/tokens", ANY),
    Route("DELETE", "/me/tokens/{tok}", ANY),
    Route("POST", "/auth/logout", ANY),
    Route("GET", "/users", ADMIN),
    Route("POST", "/users", ADMIN, _new_user),
    Route("PATCH", "/users/{other}", ADMIN, lambda w, c: {"json": {"active": True}}),
    Route("POST", "/users/{other}/tokens", ADMIN, lambda w, c: {"json": {}}),
    Route("GET", "/users/{other}/tokens", ADMIN),
    Route("DELETE", "/users/{other}/tokens/{other_tok}", ADMIN),
    Route("GET", "/projects", ANY),
    Route("GET", "/projects/{a}", ANY),
    Route("POST", "/projects/{a}/queue/next", ANY),
    Route("GET", "/projects/{a}/items/{mine}/task", ANY),
    Route("PUT", "/projects/{a}/items/{mine}/annotation", ANY, _text),
    Route("POST", "/projects/{a}/items/{mine}/skip", ANY),
    Route("GET", "/projects/{a}/undo", ANY),
    Route("GET", "/projects/{a}/scorecard", ANY),
    Route("GET", "/projects/{b}/items/{mine_b}/image", ANY),
    Route("GET", "/projects/{a}/items/{mine}/comments", ANY),
    Route("POST", "/projects/{a}/items/{mine}/comments", ANY,
          lambda w, c: {"json": {"text": "a question"}}),
    Route("GET", "/projects/{a}/items", REVIEWER),
    Route("GET", "/projects/{a}/items/{item}", REVIEWER),
    Route("GET", "/projects/{a}/review", REVIEWER),
    Route("POST", "/projects/{a}/items/{item}/review", REVIEWER, _decision),
    Route("GET", "/projects/{a}/scorecards", REVIEWER),
    Route("GET", "/projects/{a}/dashboard", REVIEWER),
    Route("GET", "/projects/{a}/browse", REVIEWER),
    Route("GET", "/projects/{a}/browse/export", REVIEWER),
    Route("POST", "/projects/{a}/browse/bulk", REVIEWER,
          lambda w, c: {"json": {"action": "set_split", "split": "train"}}),
    Route("PATCH", "/projects/{a}/settings", ADMIN, lambda w, c: {"json": {"overlap": 2}}),
    Route("POST", "/projects/{a}/import", ADMIN, _upload),
    Route("GET", "/projects/{a}/export", ADMIN),
    # last: admitting someone restricts project A; removing them opens it again
    Route("GET", "/projects/{a}/members", ADMIN),
    Route("PUT", "/projects/{a}/members/{other}", ADMIN),
    Route("DELETE", "/projects/{a}/members/{other}", ADMIN),
]


def _headers(w: World, role: str | None) -> dict[str, str]:
    return {} if role is None else {"Authorization": f"Bearer {w.tokens[role]}"}


def _claim(client: TestClient, w: World, role: str, project: int) -> int:
    r = client.post(f"/api/v1/projects/{project}/queue/next", headers=_headers(w, role))
    assert r.status_code == 200, r.text
    return int(r.json()["task"]["item"]["id"])


def _token_id(w: World, name: str) -> int:
    """The id of a fresh API token of a user (for the revoke routes)."""
    w.users.create_token(w.ids[name], "to-revoke")
    return w.users.tokens(w.ids[name])[-1].id


def _url(route: Route, w: World, claimed: dict[str, Any]) -> str:
    path = route.template.format(a=w.a.id, b=w.b.id, other=w.ids[OTHER],
                                 item=w.a_items[1], **claimed)
    return f"/api/v1{path}"


@pytest.mark.parametrize("role", [None, "annotator", "reviewer", "admin"])
def test_every_route_for_every_role(client: TestClient, world: World, role: str | None) -> None:
    claimed: dict[str, Any] = {"mine": 0, "mine_b": 0, "tok": 0, "other_tok": 0}
    if role is not None:
        claimed = {"mine": _claim(client, world, role, world.a.id),
                   "mine_b": _claim(client, world, role, world.b.id),
                   "tok": _token_id(world, role), "other_tok": _token_id(world, OTHER)}
    for route in ROUTES:
        if route.template == "/auth/logout":
            continue  # would end the token-less session; covered in test_security
        kwargs = route.body(world, claimed) if route.body else {}
        r = client.request(route.method, _url(route, world, claimed),
                           headers=_headers(world, role), **kwargs)
        where = f"{route.method} {route.template} as {role}"
        if role is None:
            assert r.status_code == 401, where
            assert r.json()["error"]["code"] == "unauthenticated", where
        elif RANK[role] < RANK[route.least]:
            assert r.status_code == 403, f"{where}: {r.status_code} {r.text}"
            assert r.json()["error"]["code"] == "forbidden", where
        else:
            assert r.status_code in route.ok, f"{where}: {r.status_code} {r.text[:300]}"


def test_routes_table_covers_the_whole_openapi_spec(app: FastAPI) -> None:
    spec = app.openapi()["paths"]
    served = {(m.upper(), p.removeprefix("/api/v1")) for p, ops in spec.items() for m in ops}
    tested = {(r.method, r.template) for r in ROUTES} | {("POST", "/auth/login")}
    normalised = {(m, p.replace("{project_id}", "{x}").replace("{item_id}", "{y}")
                   .replace("{user_id}", "{z}")) for m, p in served}
    mine = set()
    for m, t in tested:
        for k, v in (("{a}", "{x}"), ("{b}", "{x}"), ("{mine_b}", "{y}"), ("{mine}", "{y}"),
                     ("{item}", "{y}"), ("{other}", "{z}"), ("{other_tok}", "{token_id}"),
                     ("{tok}", "{token_id}")):
            t = t.replace(k, v)
        mine.add((m, t))
    assert normalised == mine


@pytest.mark.parametrize("role", ["reviewer", "admin"])
def test_other_projects_ids_are_not_found(client: TestClient, world: World, role: str) -> None:
    h = _headers(world, role)
    foreign = world.b_items[0]
    calls = [
        ("GET", f"/projects/{world.a.id}/items/{foreign}", {}),
        ("GET", f"/projects/{world.a.id}/items/{foreign}/task", {}),
        ("GET", f"/projects/{world.a.id}/items/{foreign}/image", {}),
        ("PUT", f"/projects/{world.a.id}/items/{foreign}/annotation", {"json": {"label": "ham"}}),
        ("POST", f"/projects/{world.a.id}/items/{foreign}/skip", {}),
        ("GET", f"/projects/{world.a.id}/items/{foreign}/comments", {}),
        ("POST", f"/projects/{world.a.id}/items/{foreign}/comments", {"json": {"text": "x"}}),
        ("POST", f"/projects/{world.a.id}/items/{foreign}/review",
         {"json": {"decision": "send_back"}}),
        ("GET", f"/projects/{world.b.id}/items/{world.a_items[0]}", {}),
        ("GET", "/projects/999", {}),
        ("POST", "/projects/999/queue/next", {}),
    ]
    for method, path, kwargs in calls:
        r = client.request(method, f"/api/v1{path}", headers=h, **kwargs)
        assert r.status_code == 404, f"{method} {path}: {r.status_code} {r.text}"
        assert r.json()["error"]["code"] == "not_found"
        assert "img0.png" not in r.text and "comment number" not in r.text


def test_annotator_cannot_read_items_outside_their_queue(client: TestClient,
                                                         world: World) -> None:
    h = _headers(world, "annotator")
    r = client.get(f"/api/v1/projects/{world.b.id}/items/{world.b_items[1]}/image", headers=h)
    assert r.status_code == 404
    r = client.get(f"/api/v1/projects/{world.a.id}/items/{world.a_items[3]}/task", headers=h)
    assert r.status_code == 404


def test_other_projects_ids_are_not_found_in_pages(client: TestClient, world: World) -> None:
    csrf = login(client, "admin")
    foreign = world.b_items[0]
    for path in (f"/p/{world.a.id}/review/{foreign}", f"/p/{world.a.id}/label?item={foreign}",
                 "/p/999/dashboard", "/p/999/label"):
        r = client.get(path)
        assert r.status_code == 404, path
        assert "img0.png" not in r.text
    r = client.post(f"/p/{world.a.id}/review/{foreign}",
                    data={"csrf_token": csrf, "decision": "send_back"})
    assert r.status_code == 404
