"""Keyset paging of the item list and the review queue: ``after`` and the ``Link`` header."""

from __future__ import annotations

from fastapi.testclient import TestClient
from server_world import World, login

from labelloop.core.records import AnnotationRecord


def _auth(world: World, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens[name]}"}


def test_item_pages_follow_the_next_link(client: TestClient, world: World) -> None:
    base = f"/api/v1/projects/{world.a.id}/items"
    h = _auth(world, "reviewer")
    everything = [it["id"] for it in client.get(f"{base}?limit=1000", headers=h).json()]
    assert everything == sorted(everything) and len(everything) == 7
    seen, url = [], f"{base}?limit=3"
    while url:
        r = client.get(url, headers=h)
        assert r.status_code == 200
        seen += [it["id"] for it in r.json()]
        link = r.headers.get("link")
        url = link.split(">")[0].lstrip("<") if link else ""
        assert not link or link.endswith('rel="next"')
    assert seen == everything
    # after and offset give the same page; both at once is an error
    after = client.get(f"{base}?after={everything[1]}&limit=2", headers=h).json()
    offset = client.get(f"{base}?offset=2&limit=2", headers=h).json()
    assert [it["id"] for it in after] == [it["id"] for it in offset] == everything[2:4]
    bad = client.get(f"{base}?after={everything[1]}&offset=2", headers=h)
    assert bad.status_code == 422 and "after" in bad.json()["error"]["message"]
    assert client.get(f"{base}?after=-1", headers=h).status_code == 422


def test_review_queue_pages(client: TestClient, world: World) -> None:
    store, pid = world.store, world.a.id
    srcs = [store.ensure_source(pid, "human", f"h{i}", user_id=world.ids["annotator"]).id
            for i in range(2)]
    store.upsert_annotations(pid, [AnnotationRecord(item_id=i, source_id=s, label=n % 2)
                                   for i in world.a_items for n, s in enumerate(srcs)])
    base = f"/api/v1/projects/{pid}/review"
    h = _auth(world, "reviewer")
    whole = [e["item"]["id"] for e in client.get(f"{base}?limit=100", headers=h).json()]
    assert whole == sorted(whole) and len(whole) == len(world.a_items)
    first = client.get(f"{base}?limit=2", headers=h)
    assert 'rel="next"' in first.headers["link"]
    nxt = first.headers["link"].split(">")[0].lstrip("<")
    assert "after=" in nxt and "limit=2" in nxt
    second = client.get(nxt, headers=h).json()
    assert [e["item"]["id"] for e in first.json() + second] == whole[:4]
    login(client, "reviewer")
    page = client.get(f"/p/{pid}/review")
    assert page.status_code == 200 and "Next page" not in page.text  # fewer than a page
