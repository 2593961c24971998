"""Annotators never see gold answers (before answering) nor other people's labels."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from fastapi.testclient import TestClient
from server_world import GOLD_SOURCE, OTHER, SECRET, World, login

from labelloop.server import create_app

MARKERS = (GOLD_SOURCE, OTHER, "review:", '"votes"', '"kind"')


def _get_all(client: TestClient, world: World, h: dict[str, str]) -> list[Any]:
    """Every GET an annotator can make on both projects and every item id."""
    out = []
    pages = ["/", f"/p/{world.a.id}/review", f"/p/{world.a.id}/dashboard", "/admin/users"]
    for pid in (world.a.id, world.b.id):
        base = f"/api/v1/projects/{pid}"
        out += [client.get(u, headers=h) for u in (
            "/api/v1/me", "/api/v1/projects", base, f"{base}/undo", f"{base}/scorecard",
            f"{base}/items", f"{base}/review", f"{base}/scorecards", f"{base}/dashboard",
            f"{base}/export", "/api/v1/users")]
        for iid in world.a_items + world.b_items + [world.honeypot]:
            for tail in ("", "/task", "/image"):
                out.append(client.get(f"{base}/items/{iid}{tail}", headers=h))
            pages += [f"/p/{pid}/review/{iid}", f"/p/{pid}/label?item={iid}"]
    out += [client.get(p, headers=h) for p in pages]
    return out


def _assert_clean(responses: list[Any]) -> None:
    for r in responses:
        text = r.text
        for m in MARKERS:
            assert m not in text, f"{r.request.method} {r.request.url}: leaks {m!r}"


@pytest.mark.slow
def test_crawl_as_annotator_finds_no_gold_or_other_labels(world: World) -> None:
    world.store.update_settings(world.a.id, world.a.settings.model_copy(
        update={"honeypot_rate": 0.5}))
    app = create_app(world.store, secret=SECRET, media_root=world.media, users=world.users,
                     rng=random.Random(3))
    other = TestClient(app)
    oh = {"Authorization": f"Bearer {world.tokens[OTHER]}"}
    for _ in range(4):  # the other annotator labels first, so their votes exist
        t = other.post(f"/api/v1/projects/{world.a.id}/queue/next", headers=oh).json()["task"]
        other.put(f"/api/v1/projects/{world.a.id}/items/{t['item']['id']}/annotation",
                  headers=oh, json={"label": "spam"})
    client = TestClient(app)
    csrf = login(client, "annotator")
    h = {"X-CSRF-Token": csrf}
    seen_honeypot = False
    _assert_clean(_get_all(client, world, h))
    for _round in range(12):
        r = client.post(f"/api/v1/projects/{world.a.id}/queue/next", headers=h)
        _assert_clean([r])
        task = r.json()["task"]
        if task is None:
            break
        iid = task["item"]["id"]
        page = client.get(f"/p/{world.a.id}/label", headers=h)
        _assert_clean([page])
        if iid == world.honeypot:
            seen_honeypot = True
            assert task["suggestion"] is None and task["previous"] is None
            assert "spam" not in json.dumps(task["item"])
        sub = client.put(f"/api/v1/projects/{world.a.id}/items/{iid}/annotation",
                         headers=h, json={"label": "ham"})
        assert sub.status_code == 200
        _assert_clean([sub])
        feedback = sub.json()["feedback"]
        assert (feedback is not None) == (iid == world.honeypot)
        if feedback is not None:  # feedback comes only after the answer is stored
            assert feedback == {"correct": False, "expected": {
                "label": "spam", "labels": None, "boxes": None, "spans": None}}
            again = client.put(f"/api/v1/projects/{world.a.id}/items/{iid}/annotation",
                               headers=h, json={"label": "spam"})
            assert again.status_code == 409
    assert seen_honeypot
    _assert_clean(_get_all(client, world, h))
