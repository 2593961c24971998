"""Span answers through the API and pages: tasks carry pre-labelled spans with their
confidence, answers are snapped and stored, review shows every vote's spans, and an
annotator never sees gold spans or another person's spans."""

from __future__ import annotations

import json
import random
import re
from typing import Any

from fastapi.testclient import TestClient
from server_world import OTHER, SECRET, World, login
from span_world import HONEYPOT, SPAN_GOLD, SPAN_XSS, add_span_project

from labelloop.server import create_app


def _client(world: World) -> TestClient:
    return TestClient(create_app(world.store, secret=SECRET, media_root=world.media,
                                 users=world.users, rng=random.Random(2)))


def test_span_task_answer_and_previous(world: World) -> None:
    sw = add_span_project(world.store)
    client = _client(world)
    h = {"X-CSRF-Token": login(client, "annotator")}
    base = f"/api/v1/projects/{sw.project.id}"
    proj = client.get(base, headers=h).json()
    assert proj["has_spans"] is True and proj["has_boxes"] is False
    task = client.get(f"{base}/items/{sw.items[0]}/task", headers=h)
    assert task.status_code == 404  # not claimed yet
    got = client.post(f"{base}/queue/next", headers=h).json()["task"]
    assert got["item"]["id"] == sw.items[0]
    sug = got["suggestion"]
    assert sug["source"] == "span-label-model" and sug["confidence"] == 0.62
    assert [(s["start"], s["end"], s["label"], s["score"]) for s in sug["spans"]] == [
        (0, 12, "PER", 0.9), (17, 32, "PER", 0.55), (36, 42, "LOC", None)]
    url = f"{base}/items/{sw.items[0]}/annotation"
    # a selection cutting words is snapped outwards to whole tokens
    ok = client.put(url, headers=h, json={"spans": [
        {"start": 1, "end": 10, "label": "PER"}, {"start": 36, "end": 38, "label": 2}]})
    assert ok.status_code == 200, ok.text
    assert ok.json()["answer"]["spans"] == [
        {"start": 0, "end": 12, "label": "PER", "score": None},
        {"start": 36, "end": 42, "label": "LOC", "score": None}]
    bad = client.put(url, headers=h, json={"spans": [{"start": 0, "end": 3, "label": "GPE"}]})
    assert bad.status_code == 422 and "span 0" in bad.json()["error"]["message"]
    overlap = client.put(url, headers=h, json={"spans": [
        {"start": 0, "end": 12, "label": "PER"}, {"start": 4, "end": 16, "label": "ORG"}]})
    assert overlap.status_code == 422 and "overlap" in overlap.json()["error"]["message"]
    missing = client.put(url, headers=h, json={"label": "PER"})
    assert missing.status_code == 422 and "'spans'" in missing.json()["error"]["message"]
    # undo: the earlier answer comes back with its spans (the failed tries changed nothing)
    again = client.get(f"{base}/items/{sw.items[0]}/task", headers=h).json()
    assert [(s["start"], s["end"], s["label"]) for s in again["previous"]["spans"]] == [
        (0, 12, "PER"), (36, 42, "LOC")]
    page = client.get(f"/p/{sw.project.id}/label?item={sw.items[0]}")
    assert page.status_code == 200 and "/static/spans.js" in page.text
    assert 'id="span-text"' in page.text


def test_span_project_never_shows_gold_or_other_peoples_spans(world: World) -> None:
    sw = add_span_project(world.store, honeypot_rate=0.5)
    client = _client(world)
    other = TestClient(client.app)
    oh = {"Authorization": f"Bearer {world.tokens[OTHER]}"}
    base = f"/api/v1/projects/{sw.project.id}"
    for _ in range(4):  # the other annotator marks "Ada" everywhere they can
        t = other.post(f"{base}/queue/next", headers=oh).json()["task"]
        if t is None:
            break
        text = t["item"]["data"]["text"]
        other.put(f"{base}/items/{t['item']['id']}/annotation", headers=oh, json={
            "spans": [{"start": 0, "end": len(text.split()[0]), "label": "ORG"}]})
    h = {"X-CSRF-Token": login(client, "annotator")}
    tasks: list[Any] = []
    raw: list[str] = []
    for _ in range(6):
        t = client.post(f"{base}/queue/next", headers=h).json()["task"]
        if t is None:
            break
        iid = t["item"]["id"]
        tasks += [t, client.get(f"{base}/items/{iid}/task", headers=h).json()]
        page = client.get(f"/p/{sw.project.id}/label?item={iid}").text
        tasks.append(json.loads(re.search(
            r'id="labelloop-task">(.*?)</script>', page, re.S).group(1))["task"])  # type: ignore[union-attr]
        raw += [page, client.get(f"{base}/items/{iid}", headers=h).text]
        client.put(f"{base}/items/{iid}/annotation", headers=h, json={"spans": []})
    assert any(t["item"]["data"]["text"] == HONEYPOT for t in tasks), "no honeypot served"
    for t in tasks:
        shown = [s for key in ("suggestion", "previous") for s in (t[key] or {}).get("spans")
                 or []]
        # only the label model's pre-label of the first text: no gold, no other person
        assert all(s["label"] != "ORG" for s in shown)
        if t["item"]["data"]["text"] == HONEYPOT:
            assert t["suggestion"] is None and not (t["previous"] or {}).get("spans")
    for x in raw + [json.dumps(t) for t in tasks]:
        assert SPAN_GOLD not in x and OTHER not in x
    # the honeypot answered with no spans scores span F1 0 on the admin's scorecards
    cards = client.get(f"{base}/scorecards", headers={
        "Authorization": f"Bearer {world.tokens['admin']}"}).json()
    mine = next(c for c in cards if c["name"] == "annotator")
    assert mine["honeypots"] == 1 and mine["honeypot_span_f1"] == 0.0
    admin = TestClient(client.app)
    login(admin, "admin")
    board = admin.get(f"/p/{sw.project.id}/dashboard")
    assert board.status_code == 200 and "span F1 0.00" in board.text


def test_review_shows_each_votes_spans_and_accepts_one(world: World) -> None:
    sw = add_span_project(world.store)
    client = _client(world)
    item = sw.items[2]  # the text with markup in it
    for name, label in (("annotator", "PER"), (OTHER, "ORG")):
        c = TestClient(client.app)
        ch = {"Authorization": f"Bearer {world.tokens[name]}"}
        for _ in range(3):
            t = c.post(f"/api/v1/projects/{sw.project.id}/queue/next", headers=ch).json()
            iid = t["task"]["item"]["id"]
            spans = ([{"start": SPAN_XSS.index("Ada"), "end": SPAN_XSS.index("Ada") + 3,
                       "label": label}] if iid == item else [])
            c.put(f"/api/v1/projects/{sw.project.id}/items/{iid}/annotation", headers=ch,
                  json={"spans": spans})
    h = {"X-CSRF-Token": login(client, "reviewer")}
    entry = client.get(f"/api/v1/projects/{sw.project.id}/review", headers=h).json()
    mine = next(e for e in entry if e["item"]["id"] == item)
    assert sorted(v["answer"]["spans"][0]["label"] for v in mine["votes"]
                  if v["kind"] == "human") == ["ORG", "PER"]
    page = client.get(f"/p/{sw.project.id}/review/{item}").text
    assert '<mark class="span-mark c0" title="PER">Ada<span class="span-tag">PER</span>' in page
    assert '<mark class="span-mark c1" title="ORG">Ada<span class="span-tag">ORG</span>' in page
    assert "<script>window.__pwned" not in page and "&lt;script&gt;window.__pwned" in page
    r = client.post(f"/p/{sw.project.id}/review/{item}", data={
        "csrf_token": h["X-CSRF-Token"], "decision": "accept", "vote": OTHER},
        follow_redirects=False)
    assert r.status_code == 303
    gold = [s for s in world.store.sources(sw.project.id, kinds=["gold"])
            if s.name == "review:reviewer"]
    kept = world.store.annotations(sw.project.id, source_ids=[gold[0].id])[0]
    assert [(s.label, SPAN_XSS[s.start:s.end]) for s in kept.spans or []] == [("ORG", "Ada")]
    # the correction API takes spans too
    fixed = client.post(f"/api/v1/projects/{sw.project.id}/items/{item}/review", headers=h,
                        json={"decision": "correct", "spans": [
                            {"start": SPAN_XSS.index("wins"), "end": len(SPAN_XSS),
                             "label": "LOC"}]})
    assert fixed.status_code == 200, fixed.text
    kept = world.store.annotations(sw.project.id, source_ids=[gold[0].id])[0]
    assert [(s.label, SPAN_XSS[s.start:s.end]) for s in kept.spans or []] == [("LOC", "wins")]


def test_review_segments_of_overlapping_spans() -> None:
    from labelloop.server.routes.pages import Segment, span_segments
    from labelloop.server.schemas.api import SpanIO

    text = "New York City Hall"
    spans = [SpanIO(start=0, end=13, label="LOC"), SpanIO(start=0, end=8, label="LOC"),
             SpanIO(start=9, end=18, label="ORG")]
    got = span_segments(text, spans, ["PER", "ORG", "LOC"])
    assert got == [Segment("New York", "LOC", 2, ("LOC",)), Segment(" ", "LOC", 2),
                   Segment("City", "ORG", 1, ("LOC",)), Segment(" Hall", "ORG", 1, ("ORG",))]
    assert span_segments("abc", [], ["PER"]) == [Segment("abc")]
    assert span_segments("", [], ["PER"]) == []
