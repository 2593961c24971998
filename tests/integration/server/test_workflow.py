"""Labeling, undo, skip, review, send-back, dashboards and the Python client end to end."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from server_world import OTHER, World

from labelloop.client import Client
from labelloop.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError


def _client(app_client: TestClient, world: World, who: str) -> Client:
    return Client("http://testserver", world.tokens[who], http=app_client)


def test_label_undo_skip_and_review(client: TestClient, world: World) -> None:
    ann, other = _client(client, world, "annotator"), _client(client, world, OTHER)
    rev = _client(client, world, "reviewer")
    a = world.a.id
    t1 = ann.next_task(a)
    assert t1 is not None and t1["item"]["id"] == world.a_items[0]
    assert t1["suggestion"] == {"label": "spam", "labels": None, "boxes": None, "spans": None,
                                "source": "zero-shot", "confidence": 0.83}
    assert ann.next_task(a)["item"]["id"] == t1["item"]["id"]  # the open claim comes back
    r = ann.submit(a, t1["item"]["id"], label="ham", seconds=4.5)
    assert r["answer"]["label"] == "ham" and r["seconds"] == 4.5 and r["feedback"] is None
    t2 = ann.next_task(a)
    ann.submit(a, t2["item"]["id"], label="spam")
    assert ann.request("GET", f"/projects/{a}/undo")["item_id"] == t2["item"]["id"]
    back = ann.request("GET", f"/projects/{a}/undo", params={"before": t2["item"]["id"]})
    assert back["item_id"] == t1["item"]["id"]
    again = ann.request("GET", f"/projects/{a}/items/{t1['item']['id']}/task")
    assert again["previous"]["label"] == "ham"
    ann.submit(a, t1["item"]["id"], label="spam")  # change the answer after undo
    t3 = ann.next_task(a)
    ann.skip(a, t3["item"]["id"])
    assert ann.next_task(a)["item"]["id"] != t3["item"]["id"]
    with pytest.raises(ValidationError):
        ann.submit(a, t1["item"]["id"], label="eggs")

    o1 = other.next_task(a)  # overlap 2: the other annotator gets item 1 too
    assert o1["item"]["id"] == t1["item"]["id"]
    other.submit(a, o1["item"]["id"], label="ham")
    queue = rev.review_queue(a)
    flagged = {e["item"]["id"]: e for e in queue}
    assert flagged[t1["item"]["id"]]["reasons"] == ["disagreement"]
    with pytest.raises(PermissionDeniedError):
        ann.review_queue(a)
    rev.decide(a, t1["item"]["id"], "correct", label="spam", note="links")
    entry = rev.request("GET", f"/projects/{a}/items/{t1['item']['id']}")
    assert {(v["kind"], v["source"], v["answer"]["label"]) for v in entry["votes"]} >= {
        ("gold", "review:reviewer", "spam")}
    assert t1["item"]["id"] not in {e["item"]["id"] for e in rev.review_queue(a)}

    cards = {c["name"]: c for c in rev.request("GET", f"/projects/{a}/scorecards")}
    assert cards[OTHER]["honeypots"] == 1 and cards[OTHER]["honeypot_accuracy"] == 0.0
    assert cards["annotator"]["honeypot_accuracy"] == 1.0
    mine = ann.scorecard(a)
    assert mine["name"] == "annotator" and mine["labeled"] == 2
    # an annotator's own card: no per-item reference, agreement only over full batches
    assert mine["trend"] == [] and mine["confusion"] == [] and mine["agreement"] is None
    dash = rev.dashboard(a)
    assert dash["items"] == 7 and dash["pairs_compared"] == 1


def test_an_answer_decided_by_a_reviewer_can_still_be_changed_without_revealing_the_decision(
        client: TestClient, world: World) -> None:
    ann, rev = _client(client, world, "annotator"), _client(client, world, "reviewer")
    a = world.a.id
    t1 = ann.next_task(a)["item"]["id"]
    ann.submit(a, t1, label="ham")
    rev.decide(a, t1, "correct", label="spam", note="links")
    # undo offers the item (the gold came after the claim: not a honeypot for this user) ...
    assert ann.request("GET", f"/projects/{a}/undo")["item_id"] == t1
    # ... so changing the answer works (before: 409 "already scored"), and no feedback shows
    # the reviewer's label, though honeypot feedback is on
    assert world.a.settings.honeypot_feedback
    r = ann.submit(a, t1, label="spam")
    assert r["answer"]["label"] == "spam" and r["feedback"] is None
    entry = rev.request("GET", f"/projects/{a}/items/{t1}")
    labels = {(v["kind"], v["answer"]["label"]) for v in entry["votes"]}
    assert {("gold", "spam"), ("human", "spam")} <= labels and ("human", "ham") not in labels


def test_suggestion_comes_from_the_newest_model_version(client: TestClient,
                                                        world: World) -> None:
    from labelloop.core.records import AnnotationRecord

    newer = world.store.ensure_source(world.a.id, "model", "zero-shot", "2")
    world.store.upsert_annotations(world.a.id, [AnnotationRecord(
        item_id=world.a_items[0], source_id=newer.id, label=0, confidence=0.61)])
    t = _client(client, world, "annotator").next_task(world.a.id)
    assert t["item"]["id"] == world.a_items[0]
    assert (t["suggestion"]["label"], t["suggestion"]["confidence"]) == ("ham", 0.61)


def test_send_back_asks_one_more_annotator(client: TestClient, world: World) -> None:
    a = world.a.id
    admin = _client(client, world, "admin")
    admin.update_settings(a, overlap=1)
    ann = _client(client, world, "annotator")
    t = ann.next_task(a)
    ann.submit(a, t["item"]["id"], label="ham")
    other = _client(client, world, OTHER)
    assert other.next_task(a)["item"]["id"] != t["item"]["id"]
    rev = _client(client, world, "reviewer")
    rev.decide(a, t["item"]["id"], "send_back", note="unsure")
    reviewer_task = rev.next_task(a)
    assert reviewer_task["item"]["id"] == t["item"]["id"]


def test_claims_conflict_when_the_item_went_to_others(client: TestClient, world: World) -> None:
    a = world.a.id
    _client(client, world, "admin").update_settings(a, overlap=1)
    ann, other = _client(client, world, "annotator"), _client(client, world, OTHER)
    t = ann.next_task(a)
    ann.skip(a, t["item"]["id"])
    assert other.next_task(a)["item"]["id"] == t["item"]["id"]
    other.submit(a, t["item"]["id"], label="ham")
    with pytest.raises(ConflictError):
        ann.submit(a, t["item"]["id"], label="spam")


def test_boxes_are_validated_and_stored(client: TestClient, world: World) -> None:
    b = world.b.id
    ann = _client(client, world, "annotator")
    t = ann.next_task(b)
    assert t["item"]["image_url"] == f"/api/v1/projects/{b}/items/{t['item']['id']}/image"
    assert t["suggestion"]["boxes"][0]["label"] == "red"
    img = client.get(t["item"]["image_url"],
                     headers={"Authorization": f"Bearer {world.tokens['annotator']}"})
    assert img.status_code == 200 and img.content[:4] == b"\x89PNG"
    with pytest.raises(ValidationError, match="leaves the image"):
        ann.submit(b, t["item"]["id"], boxes=[{"x": 300, "y": 10, "w": 50, "h": 20,
                                               "label": "red"}])
    with pytest.raises(ValidationError):
        ann.submit(b, t["item"]["id"], boxes=[{"x": 1, "y": 1, "w": 5, "h": 5, "label": "pink"}])
    r = ann.submit(b, t["item"]["id"], boxes=[{"x": 40, "y": 50, "w": 80, "h": 90,
                                               "label": "red"}])
    assert r["answer"]["boxes"][0]["w"] == 80


def test_admin_manages_users_settings_import_export(client: TestClient, world: World,
                                                    tmp_path: Path) -> None:
    admin = _client(client, world, "admin")
    made = admin.add_user("newbie", "annotator")
    assert len(made["password"]) >= 12 and made["user"]["role"] == "annotator"
    with pytest.raises(ConflictError):
        admin.add_user("newbie", "annotator")
    assert admin.update_settings(world.a.id, honeypot_rate=0.2)["settings"]["honeypot_rate"] == 0.2
    r = client.post(f"/api/v1/projects/{world.a.id}/import",
                    headers={"Authorization": f"Bearer {world.tokens['admin']}"},
                    files={"file": ("x.csv", b"text\nfresh comment\n", "text/csv")})
    assert r.json() == {"added": 1, "skipped": 0, "annotations": 0}
    out = admin.export(world.a.id, tmp_path / "out.jsonl")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 8
    with pytest.raises(NotFoundError):
        admin.project(12345)


def test_answers_trigger_priority_refresh(world: World) -> None:
    import random

    from server_world import SECRET

    from labelloop.server import create_app
    from labelloop.server.requeue import Requeuer

    last = world.a_items[-1]
    requeuer = Requeuer(lambda p: world.store.set_priorities(p.id, {last: 9.0}))
    world.store.update_settings(world.a.id, world.a.settings.model_copy(
        update={"requeue_every": 1, "overlap": 1}))
    app = create_app(world.store, secret=SECRET, users=world.users, rng=random.Random(0),
                     requeuer=requeuer)
    ann = _client(TestClient(app), world, "annotator")
    t = ann.next_task(world.a.id)
    assert t["item"]["id"] != last
    ann.submit(world.a.id, t["item"]["id"], label="ham")
    for thread in requeuer.threads:
        thread.join(5)
    assert ann.next_task(world.a.id)["item"]["id"] == last


def test_dashboard_import_form_reports_results_and_errors(client: TestClient,
                                                          world: World) -> None:
    from server_world import login

    csrf = login(client, "admin")
    url = f"/p/{world.a.id}/import"

    def finished(started: Any) -> Any:
        """The import's fragment once its background job ended."""
        job = re.search(r'hx-get="(/p/\d+/import/[\w-]+)"', started.text)
        assert job, started.text
        for thread in client.app.state.ctx.imports.threads:  # type: ignore[attr-defined]
            thread.join(30)
        return client.get(job.group(1))

    ok = finished(client.post(url, data={"csrf_token": csrf}, files={
        "file": ("new.csv", b"text\nanother comment\n", "text/csv")}))
    assert "Imported 1 item(s)" in ok.text and "hx-get" not in ok.text
    bad = finished(client.post(url, data={"csrf_token": csrf, "label_column": "label"}, files={
        "file": ("bad.csv", b"text,label\n<b>x</b>,eggs\n", "text/csv")}))
    assert 'class="alert bad"' in bad.text and "<b>x</b>" not in bad.text
    assert "Nothing was imported from bad.csv" in bad.text and 'id="import-problems"' in bad.text
    # the error names the uploaded file, never the server's temporary folder
    assert "bad.csv" in bad.text and tempfile.gettempdir() not in bad.text
    api = client.post(f"/api/v1/projects/{world.a.id}/import", headers={"X-CSRF-Token": csrf},
                      data={"label_column": "label"},
                      files={"file": ("../../etc/x y.csv", b"text,label\nz,eggs\n")}).json()
    assert "x_y.csv" in api["error"]["message"]
    assert tempfile.gettempdir() not in json.dumps(api)
    assert client.post(url, files={"file": ("n.csv", b"text\nz\n", "text/csv")}
                       ).status_code == 403
    page = client.get(f"/p/{world.a.id}/dashboard")
    assert "Settings" in page.text and "Import" in page.text


def test_an_imported_source_with_a_users_name_is_not_taken_over(client: TestClient,
                                                                world: World) -> None:
    world.store.ensure_source(world.a.id, "human", "annotator")  # e.g. from a Label Studio file
    ann = _client(client, world, "annotator")
    t = ann.next_task(world.a.id)
    assert ann.submit(world.a.id, t["item"]["id"], label="ham")["answer"]["label"] == "ham"
    names = {s.name: s.user_id for s in world.store.sources(world.a.id, kinds=["human"])}
    assert names == {"annotator": None, f"annotator#{world.ids['annotator']}":
                     world.ids["annotator"]}


def test_review_form_settings_form_and_dashboard_share_the_api_paths(
        client: TestClient, world: World) -> None:
    """The HTML forms call the same services as the API: same gold votes, same settings."""
    from server_world import login

    ann, other = _client(client, world, "annotator"), _client(client, world, OTHER)
    a = world.a.id
    t = ann.next_task(a)
    ann.submit(a, t["item"]["id"], label="ham", seconds=2.0)
    other.submit(a, other.next_task(a)["item"]["id"], label="spam", seconds=3.0)
    item = t["item"]["id"]
    csrf = login(client, "admin")
    r = client.post(f"/p/{a}/review/{item}", follow_redirects=False,
                    data={"csrf_token": csrf, "decision": "accept", "vote": OTHER})
    assert r.status_code == 303
    gold = [v for v in world.store.votes(a, item_ids=[item]) if v.kind == "gold"]
    assert [(v.source, v.annotation.label) for v in gold] == [("review:admin", 1)]
    r = client.post(f"/p/{a}/review/{item}", follow_redirects=False,
                    data={"csrf_token": csrf, "decision": "correct", "label": "ham"})
    assert r.status_code == 303
    gold = [v for v in world.store.votes(a, item_ids=[item]) if v.kind == "gold"]
    assert [v.annotation.label for v in gold] == [0]
    bad = client.post(f"/p/{a}/review/{item}",
                      data={"csrf_token": csrf, "decision": "accept", "vote": "nobody"})
    assert bad.status_code == 422 and "no vote from" in bad.text
    saved = client.post(f"/p/{a}/settings", data={
        "csrf_token": csrf, "overlap": 3, "honeypot_rate": 0.2, "claim_minutes": 15,
        "review_threshold": 0.8})
    assert saved.status_code == 200
    st = world.store.project(a).settings
    assert (st.overlap, st.honeypot_rate, st.claim_minutes, st.honeypot_feedback) == (
        3, 0.2, 15, False)
    admin = _client(client, world, "admin")
    out = admin.request("PATCH", f"/projects/{a}/settings", json={"overlap": 2})
    assert out["settings"]["overlap"] == 2 and out["settings"]["honeypot_rate"] == 0.2
    page = client.get(f"/p/{a}/dashboard?partial=true")
    assert page.status_code == 200
    assert f"<td>{OTHER}</td><td>1</td><td>3.0</td>" in page.text  # a scorecard row


def test_a_review_decision_keeps_the_lists_filter(client: TestClient, world: World) -> None:
    """After a decision the reviewer goes on to the next item of the same tab (issue 13:
    the tab's filter was lost)."""
    from server_world import login

    from labelloop.core.records import AnnotationRecord

    a = world.a.id
    items = [it.id for it in world.store.items(a)[:4]]
    model = world.store.ensure_source(a, "model", "zero-shot")
    world.store.upsert_annotations(a, [AnnotationRecord(
        item_id=i, source_id=model.id, label=1, confidence=0.5, needs_review=True)
        for i in items[:2]])  # two drafts need review ...
    for name, label in (("x1", 0), ("x2", 1)):  # ... two items people disagree on
        src = world.store.ensure_source(a, "human", name)
        world.store.upsert_annotations(a, [AnnotationRecord(item_id=i, source_id=src.id,
                                                            label=label) for i in items[2:]])
    csrf = login(client, "admin")
    listing = client.get(f"/p/{a}/review?reason=disagreement")
    assert f"/p/{a}/review/{items[2]}?reason=disagreement" in listing.text
    assert f"/p/{a}/review/{items[0]}" not in listing.text
    page = client.get(f"/p/{a}/review/{items[2]}?reason=disagreement")
    assert f'href="/p/{a}/review?reason=disagreement"' in page.text
    r = client.post(f"/p/{a}/review/{items[2]}?reason=disagreement", follow_redirects=False,
                    data={"csrf_token": csrf, "decision": "correct", "label": "ham"})
    assert r.headers["location"] == f"/p/{a}/review/{items[3]}?reason=disagreement"
    r = client.post(f"/p/{a}/review/{items[3]}?reason=disagreement", follow_redirects=False,
                    data={"csrf_token": csrf, "decision": "correct", "label": "ham"})
    assert r.headers["location"] == f"/p/{a}/review?reason=disagreement"  # tab now empty


def test_the_send_back_note_reaches_the_annotator(client: TestClient, world: World) -> None:
    """Issue 13: the reviewer's note on a send-back was stored but never shown."""
    from server_world import login

    a = world.a.id
    ann = _client(client, world, "annotator")
    item = ann.next_task(a)["item"]["id"]
    ann.submit(a, item, label="ham")
    csrf = login(client, "admin")
    r = client.post(f"/p/{a}/review/{item}", follow_redirects=False, data={
        "csrf_token": csrf, "decision": "send_back", "note": "<b>read it twice</b>"})
    assert r.status_code == 303
    login(client, "annotator")
    page = client.get(f"/p/{a}/label?item={item}").text
    assert 'id="review-note"' in page
    assert "&lt;b&gt;read it twice&lt;/b&gt;" in page and "<b>read it twice</b>" not in page
    login(client, "admin")
    client.post(f"/p/{a}/review/{item}", data={"csrf_token": login(client, "admin"),
                                              "decision": "correct", "label": "spam"})
    login(client, "annotator")
    assert 'id="review-note"' not in client.get(f"/p/{a}/label?item={item}").text


def test_home_judges_check_item_accuracy_only_on_enough_items(client: TestClient,
                                                              world: World) -> None:
    """Issue 13: Home said 'differ from the reference often' after 3 check items."""
    from server_world import login

    from labelloop.core.records import AnnotationRecord

    a = world.a.id
    world.store.update_settings(a, world.a.settings.model_copy(
        update={"honeypot_rate": 0.5, "honeypot_feedback": True, "overlap": 1}))
    gold = world.store.ensure_source(a, "gold", "reference")
    world.store.upsert_annotations(a, [AnnotationRecord(item_id=i, source_id=gold.id, label=1)
                                       for i in world.a_items[:5]])
    ann = _client(client, world, "annotator")
    checks = 0  # check items served, all answered unlike the reference
    for _ in range(30):  # each request draws again whether a check item comes next
        if (t := ann.next_task(a)) is not None:
            fb = ann.submit(a, t["item"]["id"], label="ham")["feedback"]
            checks += fb is not None and not fb["correct"]
    assert 1 <= checks < 10 and ann.scorecard(a)["honeypots"] == checks
    login(client, "annotator")
    home = client.get("/").text
    assert "differ from the reference often" not in home
    assert f"{checks} check item(s) so far: too few to tell" in home
