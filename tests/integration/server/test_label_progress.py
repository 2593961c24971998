"""The label page's progress line (my answers today, the project's items done) and why
the queue chose the item, never telling a honeypot apart."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from server_world import OTHER, World, login

from labelloop.client import Client
from labelloop.core.records import AnnotationRecord, UserRecord
from labelloop.services.progress import progress, reason, why_chosen


def _api(client: TestClient, world: World, who: str) -> Client:
    return Client("http://testserver", world.tokens[who], http=client)


def _line(page: str) -> str:
    found = re.search(r'<p class="muted small" id="progress">(.*?)</p>', page, re.S)
    assert found is not None, "no progress line"
    return re.sub(r"<[^>]+>", "", found.group(1))


def test_progress_counts_my_answers_today_and_the_items_done(client: TestClient,
                                                             world: World) -> None:
    a = world.a.id  # overlap 2: an item is done once two people answered it
    login(client, "annotator")
    assert _line(client.get(f"/p/{a}/label").text).startswith(
        "Today: 0 answered · project: 0 of 7 items done")
    ann, other = _api(client, world, "annotator"), _api(client, world, OTHER)
    first = ann.next_task(a)["item"]["id"]
    ann.submit(a, first, label="ham")
    assert _line(client.get(f"/p/{a}/label").text).startswith(
        "Today: 1 answered · project: 0 of 7 items done")
    assert other.next_task(a)["item"]["id"] == first
    other.submit(a, first, label="spam")
    assert _line(client.get(f"/p/{a}/label").text).startswith(
        "Today: 1 answered · project: 1 of 7 items done")
    user = UserRecord(id=world.ids["annotator"], name="annotator", role="annotator")
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    assert progress(world.store, world.a, user, now=tomorrow).today == 0


def test_why_this_item_follows_its_priority(client: TestClient, world: World) -> None:
    a, items = world.a.id, world.a_items
    world.store.set_priorities(a, {items[0]: 0.5, items[1]: 0.5, items[2]: 0.96})
    login(client, "annotator")
    page = client.get(f"/p/{a}/label").text
    assert f'data-item="{items[2]}"' in page
    assert "why this item: uncertain: margin 0.04" in _line(page)
    assert why_chosen(world.store, world.a, items[0]) == "uncertain: margin 0.50"
    assert why_chosen(world.store, world.a, items[3]).startswith("next in import order")
    assert reason(1.4) == "picked by active learning: informative for the model"
    assert reason(0.3, spans=True) == "uncertain: 0.30"
    assert reason(0.0) == "next in queue order"


def test_a_honeypot_reads_like_a_regular_item(client: TestClient, world: World) -> None:
    a = world.a.id
    world.store.update_settings(a, world.a.settings.model_copy(
        update={"honeypot_rate": 0.5, "overlap": 1}))
    # the gold item's own priority would read differently: it must not be used
    world.store.set_priorities(a, {**{i: 0.96 for i in world.a_items}, world.honeypot: 1.9})
    login(client, "annotator")
    ann = _api(client, world, "annotator")
    seen: dict[bool, set[str]] = {True: set(), False: set()}
    for _ in range(6):
        page = client.get(f"/p/{a}/label").text
        item = int(re.search(r'data-item="(\d+)"', page).group(1))  # type: ignore[union-attr]
        seen[item == world.honeypot].add(_line(page).split("why this item: ")[1].strip())
        ann.submit(a, item, label="ham")
    assert seen[True], "no honeypot was served (rate 0.5, seeded)"
    assert seen[True] == seen[False] == {"uncertain: margin 0.04"}


def test_gold_changes_no_count_and_an_earlier_item_shows_no_queue_facts(
        client: TestClient, world: World) -> None:
    a = world.a.id
    ann = _api(client, world, "annotator")
    item = ann.next_task(a)["item"]["id"]
    ann.submit(a, item, label="ham")
    before = world.store.queue_progress(a)
    gold = world.store.ensure_source(a, "gold", "reviewer-decisions")
    world.store.upsert_annotations(a, [AnnotationRecord(item_id=i, source_id=gold.id, label=1)
                                       for i in (item, world.a_items[3])])
    assert world.store.queue_progress(a) == before
    login(client, "annotator")
    page = client.get(f"/p/{a}/label?item={item}").text  # changing an earlier answer
    assert f'data-item="{item}"' in page
    assert 'id="progress"' not in page and "why this item" not in page
