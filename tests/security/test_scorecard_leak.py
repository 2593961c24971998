"""An annotator's own views never change with other people's hidden labels or gold."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sec_world import bearer, make_client
from server_world import OTHER, World, login

from labelloop.core.records import AnnotationRecord, UserRecord
from labelloop.core.schema import LabelSchema
from labelloop.services.scorecards import BATCH, own_scorecard
from labelloop.storage import Vote


def _label_everything(client: TestClient, world: World, h: dict[str, str],
                      label: str) -> list[dict[str, Any]]:
    """Answer every task the queue gives; return the submit responses."""
    out = []
    for _ in range(20):
        task = client.post(f"/api/v1/projects/{world.a.id}/queue/next", headers=h).json()["task"]
        if task is None:
            break
        r = client.put(f"/api/v1/projects/{world.a.id}/items/{task['item']['id']}/annotation",
                       headers=h, json={"label": label})
        assert r.status_code == 200, r.text
        out.append(r.json())
    return out


def _visible(client: TestClient, world: World, h: dict[str, str],
             items: list[int]) -> dict[str, str]:
    """Every read-only response the annotator can get about project A."""
    a = world.a.id
    urls = ["/", f"/api/v1/projects/{a}/scorecard", f"/api/v1/projects/{a}",
            f"/api/v1/projects/{a}/undo", "/api/v1/projects"]
    for iid in items:
        urls += [f"/api/v1/projects/{a}/items/{iid}/task", f"/p/{a}/label?item={iid}",
                 f"/api/v1/projects/{a}/undo?before={iid}"]
    return {u: re.sub(r"\s+", " ", client.get(u, headers=h).text) for u in urls}


def test_other_peoples_answers_and_gold_change_nothing_an_annotator_sees(
        world: World) -> None:
    world.store.update_settings(world.a.id, world.a.settings.model_copy(
        update={"honeypot_rate": 0.5, "honeypot_feedback": False}))
    ann = make_client(world)
    csrf = login(ann, "annotator")
    h = {"X-CSRF-Token": csrf}
    mine = _label_everything(ann, world, h, "ham")
    answered = [s["item_id"] for s in mine]
    assert world.honeypot in answered  # a hidden honeypot was among them ...
    assert all(s["feedback"] is None for s in mine)  # ... and nothing said so
    card = ann.get(f"/api/v1/projects/{world.a.id}/scorecard", headers=h).json()
    assert card["labeled"] == len(answered)
    assert (card["honeypots"], card["honeypot_accuracy"], card["confusion"]) == (0, None, [])
    before = _visible(ann, world, h, answered)

    other = make_client(world)
    theirs = _label_everything(other, world, bearer(world, OTHER), "spam")
    assert {s["item_id"] for s in theirs} & set(answered)  # they labeled the same items
    rev = bearer(world, "reviewer")  # a reviewer's correction is a new gold answer
    r = other.post(f"/api/v1/projects/{world.a.id}/items/{answered[0]}/review", headers=rev,
                   json={"decision": "correct", "label": "spam"})
    assert r.status_code == 200

    after = _visible(ann, world, h, answered)
    changed = [u for u in before if before[u] != after[u]]
    assert changed == []
    # reviewers and admins keep the full cards
    cards = {c["name"]: c for c in other.get(f"/api/v1/projects/{world.a.id}/scorecards",
                                             headers=rev).json()}
    assert cards["annotator"]["honeypots"] >= 1 and cards["annotator"]["agreement"] == 0.0


T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _vote(uid: int, item: int, label: int, minute: int, kind: str = "human") -> Vote:
    return Vote(kind, f"u{uid}", uid if kind == "human" else None, AnnotationRecord(
        id=uid * 1000 + item, item_id=item, source_id=uid, label=label,
        created_at=T0 + timedelta(minutes=minute)))


def test_own_card_counts_full_batches_of_settled_items_only() -> None:
    schema = LabelSchema.from_labels("text-classification", ["a", "b"])
    me = UserRecord(id=1, name="me", role="annotator")
    n = 2 * BATCH + 5
    votes = {i: [_vote(1, i, 0, i), _vote(2, i, i % 2, 100 + i)] for i in range(n)}

    def card(v: dict[int, list[Vote]]) -> Any:
        return own_scorecard(schema, v, me, overlap=2, honeypot_feedback=False)

    first = card(votes)
    assert first.compared == 2 * BATCH and first.agreed == BATCH  # two full batches
    assert first.labeled == n and first.confusion == [] and first.trend == []
    # the other person relabels an item outside the full batch: nothing changes
    votes[n - 1][1] = _vote(2, n - 1, 0, 300)
    assert card(votes) == first
    # I change an answer inside the batch: the batch leaves the card, whatever they said
    for their_label in (0, 1):
        probe = {i: list(v) for i, v in votes.items()}
        probe[3] = [_vote(1, 3, 1, 400), _vote(2, 3, their_label, 103)]
        assert (card(probe).compared, card(probe).agreed) == (BATCH, BATCH // 2)
    # gold on an item never counts while feedback is off
    votes[0].append(_vote(9, 0, 1, 500, kind="gold"))
    gold = card(votes)
    assert gold.honeypots == 0 and gold.honeypot_accuracy is None
