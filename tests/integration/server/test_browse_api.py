"""The data browser through the API, the client and the page: roles, paging, filters,
bulk actions, export, escaping."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient
from server_world import XSS, World, login

from labelloop import Client
from labelloop.errors import PermissionDeniedError, ValidationError


def _client(client: TestClient, world: World, name: str) -> Client:
    return Client("http://testserver", token=world.tokens[name], http=client)


def test_annotators_get_403_everywhere(client: TestClient, world: World) -> None:
    pid = world.a.id
    h = {"Authorization": f"Bearer {world.tokens['annotator']}"}
    assert client.get(f"/api/v1/projects/{pid}/browse", headers=h).status_code == 403
    r = client.post(f"/api/v1/projects/{pid}/browse/bulk", headers=h,
                    json={"action": "accept"})
    assert r.status_code == 403
    assert client.get(f"/api/v1/projects/{pid}/browse/export", headers=h).status_code == 403
    login(client, "annotator")
    assert client.get(f"/p/{pid}/items").status_code == 403
    with _client(client, world, "annotator") as c, pytest.raises(PermissionDeniedError):
        c.bulk(pid, "set_split", split="test")


def test_client_pages_filters_and_bulk_accept(client: TestClient, world: World) -> None:
    pid = world.a.id
    c = _client(client, world, "reviewer")
    every = [it["id"] for it in c.browse_all(pid, page_size=2)]
    assert every == sorted([*world.a_items, world.honeypot])
    first = c.browse(pid, limit=3, count=True)
    assert first["count"] == 7 and first["next"] is not None
    assert next(it["id"] for it in c.browse_all(pid, sort="confidence", desc=True)) == \
        world.a_items[0]  # the only model vote
    assert [it["id"] for it in c.browse_all(pid, search="NUMBER 3")] == [world.a_items[3]]
    gold = c.browse(pid, state=["gold"])["items"]
    assert [(g["id"], g["label"], g["confidence"]) for g in gold] == [(world.honeypot,
                                                                       "spam", 1.0)]
    res = c.bulk(pid, "accept", state=["auto", "needs_review", "gold", "unlabeled"])
    assert (res["matched"], res["changed"]) == (7, 1)  # only one item has a suggestion
    now = c.browse(pid, state=["gold"])["items"]
    assert {g["id"] for g in now} == {world.honeypot, world.a_items[0]}
    assert c.bulk(pid, "set_split", ids=world.a_items[:2], split="valid")["changed"] == 2
    assert [it["id"] for it in c.browse_all(pid, split="valid")] == world.a_items[:2]
    with pytest.raises(ValidationError, match="holdout"):
        c.bulk(pid, "set_split", split="holdout")
    with pytest.raises(ValidationError, match="sort"):
        c.browse(pid, sort="size")


def test_page_escapes_filters_and_bulk_accepts(client: TestClient, world: World) -> None:
    pid = world.a.id
    csrf = login(client, "reviewer")
    page = client.get(f"/p/{pid}/items")
    assert page.status_code == 200
    assert XSS not in page.text and "&lt;" in page.text  # item text shows as text
    assert "7</strong> items match" in page.text
    found = client.get(f"/p/{pid}/items", params={"search": "channel"})
    assert re.findall(r'name="ids" value="(\d+)"', found.text) == [str(world.honeypot)]
    r = client.post(f"/p/{pid}/items/bulk", data={
        "csrf_token": csrf, "action": "accept", "scope": "filter", "filter": "state=auto",
        "back": "state=auto"}, follow_redirects=False)
    assert r.status_code == 303 and "changed=1" in r.headers["location"]
    done = client.get(r.headers["location"])
    assert "Accepted the suggestion on 1 of 1 items" in done.text
    assert "0</strong> items match" in done.text  # the auto item is gold now
    no_csrf = client.post(f"/p/{pid}/items/bulk", data={"action": "accept", "scope": "filter"})
    assert no_csrf.status_code == 403
    none = client.post(f"/p/{pid}/items/bulk", data={"csrf_token": csrf, "action": "accept"})
    assert none.status_code == 422 and "no row is checked" in none.text


def test_export_selection_and_thumbnails(client: TestClient, world: World) -> None:
    h = {"Authorization": f"Bearer {world.tokens['admin']}"}
    r = client.get(f"/api/v1/projects/{world.a.id}/browse/export",
                   params={"search": "comment"}, headers=h)
    lines = [json.loads(x) for x in r.text.splitlines()]
    assert r.status_code == 200 and len(lines) == 5
    assert {x["state"] for x in lines} == {"auto", "unlabeled"}
    picked = client.get(f"/api/v1/projects/{world.a.id}/browse/export",
                        params={"ids": [world.honeypot]}, headers=h)
    assert [json.loads(x)["label"] for x in picked.text.splitlines()] == ["spam"]
    login(client, "admin")
    page = client.get(f"/p/{world.b.id}/items")
    assert f"/api/v1/projects/{world.b.id}/items/{world.b_items[0]}/image" in page.text
