"""Sessions, CSRF, rate limiting, secrets, hashing, escaping and the error envelope."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from server_world import SECRET, XSS, World, login
from sqlalchemy import select

from labelloop.errors import UserInputError
from labelloop.server import create_app
from labelloop.server.security import SECRET_ENV, check_secret, load_or_create_secret
from labelloop.storage.models import ApiTokenRow, UserRow


def test_error_envelope_is_pinned(client: TestClient, world: World) -> None:
    h = {"Authorization": f"Bearer {world.tokens['admin']}"}
    assert client.get("/api/v1/projects/999", headers=h).json() == {
        "error": {"code": "not_found", "message": "project 999 not found", "details": None}}
    assert client.get("/api/v1/me").json() == {"error": {
        "code": "unauthenticated",
        "message": "log in first (or send 'Authorization: Bearer <token>')", "details": None}}
    bad = client.patch(f"/api/v1/projects/{world.a.id}/settings", headers=h,
                       json={"overlap": 0})
    assert bad.status_code == 422
    body = bad.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == "validation_error"
    assert body["error"]["details"][0]["loc"] == ["body", "overlap"]
    for r in (client.get("/api/v1/nope", headers=h),
              client.delete("/api/v1/projects", headers=h)):
        assert set(r.json()["error"]) == {"code", "message", "details"}
    assert client.get("/api/v1/nope", headers=h).json()["error"]["code"] == "not_found"
    assert client.delete("/api/v1/projects", headers=h).json()["error"]["code"] == (
        "method_not_allowed")


def test_openapi_spec_is_served(client: TestClient) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    assert spec["info"]["title"] == "labelloop"
    assert "/api/v1/projects/{project_id}/queue/next" in spec["paths"]


def test_cookie_writes_need_the_csrf_token(client: TestClient, world: World) -> None:
    csrf = login(client, "annotator")
    task = client.post(f"/api/v1/projects/{world.a.id}/queue/next")
    assert task.status_code == 403 and task.json()["error"]["code"] == "forbidden"
    task = client.post(f"/api/v1/projects/{world.a.id}/queue/next",
                       headers={"X-CSRF-Token": csrf})
    assert task.status_code == 200
    item = task.json()["task"]["item"]["id"]
    url = f"/api/v1/projects/{world.a.id}/items/{item}/annotation"
    assert client.put(url, json={"label": "ham"},
                      headers={"X-CSRF-Token": "0" * 64}).status_code == 403
    assert client.put(url, json={"label": "ham"}, headers={"X-CSRF-Token": csrf}).status_code == 200
    r = client.post("/logout", data={}, follow_redirects=False)
    assert r.status_code == 403  # form without csrf_token
    r = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/api/v1/me").status_code == 401


def test_login_is_rate_limited(client: TestClient) -> None:
    for _ in range(3):
        r = client.post("/api/v1/auth/login", json={"name": "annotator", "password": "wrong!!!"})
        assert r.status_code == 401
    r = client.post("/api/v1/auth/login", json={"name": "annotator",
                                                 "password": "correct horse battery"})
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"


def test_html_login_shows_errors_and_keeps_next_local(client: TestClient) -> None:
    page = client.get("/login?next=//evil.example/x")
    assert 'value="/"' in page.text
    nonce = re.search(r'name="nonce" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    r = client.post("/login", data={"name": "annotator", "password": "nope-nope",
                                    "nonce": nonce, "next": "/"})
    assert r.status_code == 401 and "wrong user name or password" in r.text
    r = client.post("/login", data={"name": "annotator", "password": "x", "nonce": "forged"})
    assert r.status_code == 400
    assert client.get("/", follow_redirects=False).headers["location"].startswith("/login")
    assert client.get("/signup").status_code == 404


def test_secret_must_be_strong(world: World, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    for bad in (None, "", "changeme", "a" * 40, "short-but-random-1X"):
        with pytest.raises(UserInputError):
            create_app(world.store, secret=bad)
    assert check_secret(SECRET) == SECRET
    monkeypatch.delenv(SECRET_ENV, raising=False)
    first = load_or_create_secret(tmp_path)
    assert len(first) >= 32 and load_or_create_secret(tmp_path) == first
    assert (tmp_path / ".labelloop-secret").stat().st_mode & 0o077 == 0
    monkeypatch.setenv(SECRET_ENV, "changeme")
    with pytest.raises(UserInputError):
        load_or_create_secret(tmp_path)


def test_passwords_and_tokens_are_stored_hashed(world: World) -> None:
    with world.store.snapshot() as s:
        hashes = list(s.scalars(select(UserRow.password_hash)))
        tokens = set(s.scalars(select(ApiTokenRow.token_hash)))
    assert hashes and all(h and h.startswith("$argon2id$") for h in hashes)
    for raw in world.tokens.values():
        assert raw not in tokens
        assert hashlib.sha256(raw.encode()).hexdigest() in tokens


def test_deactivated_users_lose_access(client: TestClient, world: World) -> None:
    h = {"Authorization": f"Bearer {world.tokens['annotator']}"}
    assert client.get("/api/v1/me", headers=h).status_code == 200
    world.users.set_active(world.ids["annotator"], False)
    assert client.get("/api/v1/me", headers=h).status_code == 401
    r = client.post("/api/v1/auth/login", json={"name": "annotator",
                                                 "password": "correct horse battery"})
    assert r.status_code == 401


def test_item_text_is_escaped_everywhere(client: TestClient, world: World) -> None:
    xss_item = world.a_items[-1]
    world.store.set_priorities(world.a.id, {xss_item: 10.0})
    login(client, "annotator")
    page = client.get(f"/p/{world.a.id}/label")
    assert f"item {xss_item}" in page.text
    assert XSS not in page.text and "<script>window.__pwned" not in page.text
    assert "&lt;script&gt;window.__pwned" in page.text
    assert "<b>requests</b>" not in page.text  # class descriptions are data too
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    review = TestClient(client.app)
    login(review, "reviewer")
    h = {"Authorization": f"Bearer {world.tokens['annotator']}"}
    client.put(f"/api/v1/projects/{world.a.id}/items/{xss_item}/annotation",
               json={"label": "spam"}, headers=h)
    page = review.get(f"/p/{world.a.id}/review/{xss_item}")
    assert page.status_code == 200 and "<script>window.__pwned" not in page.text
