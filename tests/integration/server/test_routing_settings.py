"""Routing by difficulty and prices through the server: the settings form and API set them,
the claim API follows the hard flags, the dashboard shows what people's labels cost."""

from __future__ import annotations

from fastapi.testclient import TestClient
from server_world import OTHER, World, login

from labelloop.core.records import AnnotationRecord
from labelloop.storage.claim_queue import set_hard


def _next(client: TestClient, world: World, name: str) -> int | None:
    h = {"Authorization": f"Bearer {world.tokens[name]}"}
    task = client.post(f"/api/v1/projects/{world.a.id}/queue/next", headers=h).json()["task"]
    return None if task is None else int(task["item"]["id"])


def test_the_settings_form_sets_routing_experts_and_prices(client: TestClient,
                                                          world: World) -> None:
    csrf = login(client, "admin")
    base = {"overlap": "2", "honeypot_rate": "0", "claim_minutes": "30",
            "review_threshold": "0.8", "csrf_token": csrf}
    r = client.post(f"/p/{world.a.id}/settings", data={**base, "routing": "difficulty",
                                                         "experts": ""})
    assert r.status_code == 422 and "expert" in r.text
    assert world.store.project(world.a.id).settings.routing == "off"
    r = client.post(f"/p/{world.a.id}/settings", data={
        **base, "routing": "difficulty", "experts": "annotator, ", "hard_below": "0.7",
        "price_per_label": "0.05", "price_per_expert_label": "0.5", "prices_shown": "true"})
    assert r.status_code == 200, r.text
    s = world.store.project(world.a.id).settings
    assert (s.routing, s.experts, s.hard_below) == ("difficulty", ["annotator"], 0.7)
    assert (s.price_per_label, s.price_per_expert_label) == (0.05, 0.5)
    page = client.get(f"/p/{world.a.id}/dashboard").text
    assert 'value="annotator"' in page and 'value="0.05"' in page
    client.post(f"/p/{world.a.id}/settings", data=base)  # a form without the prices
    assert world.store.project(world.a.id).settings.price_per_label == 0.05
    client.post(f"/p/{world.a.id}/settings", data={**base, "price_per_label": "",
                                                   "prices_shown": "true"})
    assert world.store.project(world.a.id).settings.price_per_label is None


def test_the_claim_api_routes_hard_items_to_experts(client: TestClient, world: World) -> None:
    h = {"Authorization": f"Bearer {world.tokens['admin']}"}
    r = client.patch(f"/api/v1/projects/{world.a.id}/settings", headers=h,
                     json={"routing": "difficulty", "experts": ["annotator"]})
    assert r.status_code == 200 and r.json()["settings"]["experts"] == ["annotator"]
    hard = world.a_items[:2]
    with world.store.write() as s:
        set_hard(s, world.a.id, hard)
    assert _next(client, world, "annotator") == hard[0]  # the expert: hard first
    got = _next(client, world, OTHER)
    assert got is not None and got not in hard  # anyone else: never a hard item


def test_the_dashboard_shows_human_labels_spent_and_their_cost(client: TestClient,
                                                               world: World) -> None:
    world.store.update_settings(world.a.id, world.store.project(world.a.id).settings
                                .model_copy(update={"experts": ["reviewer"],
                                                    "price_per_label": 0.1,
                                                    "price_per_expert_label": 1.0}))
    for name, item in (("annotator", world.a_items[0]), ("reviewer", world.a_items[1])):
        src = world.store.ensure_source(world.a.id, "human", name, user_id=world.ids[name])
        world.store.upsert_annotations(world.a.id, [AnnotationRecord(
            item_id=item, source_id=src.id, label=0)])
    login(client, "admin")
    page = client.get(f"/p/{world.a.id}/dashboard").text
    assert 'id="spending"' in page
    assert "2</b><span>human answers (1 by experts)" in page
    by_hand = 2 * len(world.store.items(world.a.id))  # overlap 2
    assert f"of labeling every item by hand ({by_hand} answers)" in page
    assert "1.10 USD</b><span>spent; by hand: " in page
