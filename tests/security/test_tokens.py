"""API tokens: listed, revoked, expiring, last use recorded, revoked on a password change."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient
from sec_world import bearer
from server_world import PASSWORD, World, login
from typer.testing import CliRunner

from labelloop.cli.app import app as cli
from labelloop.services.project import Project


def test_tokens_are_listed_and_revoked_through_the_api(client: TestClient,
                                                       world: World) -> None:
    me = client.get("/api/v1/me/tokens", headers=bearer(world, "annotator"))
    assert me.status_code == 200
    [tok] = me.json()
    assert tok["name"] == "tests" and tok["expires_at"] is None
    assert tok["last_used_at"] is not None  # the listing request itself used it
    assert "token" not in tok and "token_hash" not in tok
    new = client.post("/api/v1/me/tokens", headers=bearer(world, "annotator"),
                      json={"name": "script", "expires_days": 30}).json()["token"]
    listed = client.get("/api/v1/me/tokens", headers=bearer(world, "annotator")).json()
    assert [t["name"] for t in listed] == ["tests", "script"]
    assert listed[1]["expires_at"] is not None and listed[1]["last_used_at"] is None
    # another user cannot revoke it; the owner can, and it stops working at once
    h_new = {"Authorization": f"Bearer {new}"}
    assert client.delete(f"/api/v1/me/tokens/{listed[1]['id']}",
                         headers=bearer(world, "reviewer")).status_code == 404
    assert client.get("/api/v1/me", headers=h_new).status_code == 200
    assert client.delete(f"/api/v1/me/tokens/{listed[1]['id']}",
                         headers=h_new).status_code == 204
    assert client.get("/api/v1/me", headers=h_new).status_code == 401
    # an admin lists and revokes anyone's
    admin = bearer(world, "admin")
    uid = world.ids["annotator"]
    theirs = client.get(f"/api/v1/users/{uid}/tokens", headers=admin).json()
    assert [t["name"] for t in theirs] == ["tests"]
    assert client.get(f"/api/v1/users/{uid}/tokens",
                      headers=bearer(world, "reviewer")).status_code == 403
    assert client.delete(f"/api/v1/users/{uid}/tokens/{theirs[0]['id']}",
                         headers=admin).status_code == 204
    assert client.get("/api/v1/me", headers=bearer(world, "annotator")).status_code == 401


def test_expired_tokens_stop_working(client: TestClient, world: World) -> None:
    uid = world.ids["annotator"]
    raw = world.users.create_token(uid, "short", expires_days=1e-9)
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"}).json() == {
        "error": {"code": "unauthenticated", "message": "invalid or expired API token",
                  "details": None}}


def test_a_password_change_revokes_every_token(client: TestClient, world: World) -> None:
    uid = world.ids["annotator"]
    second = world.users.create_token(uid, "second")
    r = client.patch(f"/api/v1/users/{uid}", headers=bearer(world, "admin"),
                     json={"password": "a brand new passphrase"})
    assert r.status_code == 200
    for raw in (world.tokens["annotator"], second):
        assert client.get("/api/v1/me",
                          headers={"Authorization": f"Bearer {raw}"}).status_code == 401
    assert world.users.tokens(uid) == []


def test_the_account_page_lists_creates_and_revokes(client: TestClient, world: World) -> None:
    csrf = login(client, "annotator", PASSWORD)
    page = client.get("/account")
    assert page.status_code == 200 and "tests" in page.text
    made = client.post("/account/tokens", data={"name": "notebook", "expires_days": "7",
                                                "csrf_token": csrf})
    raw = re.search(r'id="new-token">([^<]+)<', made.text).group(1)  # type: ignore[union-attr]
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"}).status_code == 200
    token_id = next(t.id for t in world.users.tokens(world.ids["annotator"])
                    if t.name == "notebook")
    r = client.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": csrf},
                    follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"}).status_code == 401
    assert "notebook" not in client.get("/account").text


def test_cli_lists_and_revokes_tokens(tmp_path: Path) -> None:
    runner = CliRunner()
    folder = tmp_path / "p"
    Project.create(folder, task="text-classification", labels=["a", "b"]).close()
    assert runner.invoke(cli, ["user", "add", "alice", "-p", str(folder)]).exit_code == 0
    r = runner.invoke(cli, ["user", "token", "alice", "--name", "ci", "--expires-days", "3",
                            "-p", str(folder)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["user", "tokens", "alice", "-p", str(folder)])
    assert r.exit_code == 0 and len(r.output.splitlines()) == 1
    token_id, name = r.output.split()[:2]
    assert name == "ci" and "expires never" not in r.output and "last used never" in r.output
    r = runner.invoke(cli, ["user", "revoke-token", "alice", token_id, "-p", str(folder)])
    assert r.exit_code == 0 and f"revoked token {token_id}" in r.output
    r = runner.invoke(cli, ["user", "tokens", "alice", "-p", str(folder)])
    assert "no API tokens" in r.output
    r = runner.invoke(cli, ["user", "revoke-token", "alice", token_id, "-p", str(folder)])
    assert r.exit_code == 2 and "has no API token" in r.output
