"""Pages: long texts are truncated with "show more"; /login?error= echoes nothing."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sec_world import bearer
from server_world import World, login

from labelloop.core.records import ItemRecord

LONG = "word " * 200_000  # 1 MB


def test_long_texts_render_truncated_with_show_more(client: TestClient, world: World) -> None:
    iid = world.store.import_records(world.a.id, [ItemRecord(data={"text": LONG})]).item_ids[0]
    world.store.set_priorities(world.a.id, {iid: 100.0})  # served first
    login(client, "annotator")
    page = client.get(f"/p/{world.a.id}/label")
    assert page.status_code == 200
    shown = page.text.split('id="item-text">')[1].split("</div>")[0]
    assert len(shown) <= 5_001 and shown.startswith("word word")
    assert "Show more (995,000 more characters)" in page.text
    login(client, "reviewer")
    review = client.get(f"/p/{world.a.id}/review/{iid}")
    assert review.status_code == 200 and "Show more" in review.text
    short = client.get(f"/p/{world.a.id}/review/{world.a_items[1]}")
    assert "Show more" not in short.text


def test_login_error_shows_only_fixed_messages(client: TestClient) -> None:
    forged = client.get("/login?error=Your+account+is+locked,+call+555-0100")
    assert forged.status_code == 200 and "555-0100" not in forged.text
    assert "your session expired" in client.get("/login?error=expired").text


def test_post_users_does_not_echo_a_given_password(client: TestClient, world: World) -> None:
    h = bearer(world, "admin")
    r = client.post("/api/v1/users", headers=h, json={
        "name": "carol", "role": "annotator", "password": "a long secret phrase"})
    assert r.status_code == 201 and "a long secret phrase" not in r.text
    assert r.json()["password"] is None
    made = client.post("/api/v1/users", headers=h, json={"name": "dave", "role": "annotator"})
    assert len(made.json()["password"]) >= 24  # generated: shown once
    short = client.post("/api/v1/users", headers=h, json={
        "name": "erin", "role": "annotator", "password": "elevenchars"})
    assert short.status_code == 422


def test_older_short_passwords_still_log_in(client: TestClient, world: World) -> None:
    from labelloop.services.users import Users

    users: Users = world.users
    user = world.store.create_user("old", "annotator", users._ph.hash("eight888"))
    assert users.authenticate("old", "eight888") == user
