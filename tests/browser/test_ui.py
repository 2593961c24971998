"""Label with the keyboard, survive a lost connection, draw boxes, review: in chromium."""

from __future__ import annotations

from typing import Any

import pytest
from browser_kit import LiveServer, doc_shot, log_in, shot
from server_world import OTHER, PASSWORD

from labelloop.core.records import AnnotationRecord
from labelloop.services.queue import LabelingQueue, parse_answer

pytestmark = pytest.mark.browser


def _human(live: LiveServer, project_id: int, name: str) -> dict[int, AnnotationRecord]:
    w = live.world
    src = [s for s in w.store.sources(project_id, kinds=["human"]) if s.name == name]
    if not src:
        return {}
    return {a.item_id: a for a in w.store.annotations(project_id, source_ids=[src[0].id])}


def _item_on_page(page: Any) -> int:
    return int(page.get_attribute(".item-card", "data-item"))


def _wait_past(page: Any, item: int, timeout: float = 10000) -> None:
    """Wait until the page shows another item than ``item`` (or the done page)."""
    page.wait_for_selector(f".item-card:not([data-item='{item}']), h1:has-text('Nothing left')",
                           timeout=timeout)


def test_annotator_labels_with_the_keyboard(live: LiveServer, page: Any) -> None:
    w = live.world
    log_in(page, live.url, "annotator", PASSWORD)
    shot(page, "01-annotator-home")
    page.click(f"#start-{w.a.id}")
    page.wait_for_selector("#item-text")
    first = _item_on_page(page)
    assert page.is_visible("#suggestion")
    assert "83%" in page.inner_text("#suggestion")
    doc_shot(page, "label")
    page.hover(".class-btn[data-index='1']")
    assert page.is_visible(".class-btn[data-index='1'] .desc")
    shot(page, "02-label-text-suggestion-and-description")
    page.keyboard.press("2")
    assert page.get_attribute(".class-btn[data-index='1']", "aria-pressed") == "true"
    page.keyboard.press("Enter")
    _wait_past(page, first)
    second = _item_on_page(page)
    assert second != first
    page.check("#hide-suggestion")
    assert not page.is_visible("#suggestion")
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    _wait_past(page, second)
    third = _item_on_page(page)
    page.keyboard.press("u")  # back to the second item, its answer selected
    page.wait_for_url(f"**/label?item={second}")
    assert page.get_attribute(".class-btn[data-index='0']", "aria-pressed") == "true"
    shot(page, "03-undo-shows-previous-answer")
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live.url}/p/{w.a.id}/label")
    assert _item_on_page(page) == third
    page.keyboard.press("s")
    _wait_past(page, third)
    mine = _human(live, w.a.id, "annotator")
    assert mine[first].label == 1 and mine[second].label == 1
    assert third not in mine
    assert all(a.seconds is not None for a in mine.values())
    assert not [e for e in page.js_errors if "Content Security Policy" in e]


def test_a_lost_connection_keeps_the_draft_and_retries(live: LiveServer, page: Any) -> None:
    w = live.world
    log_in(page, live.url, "annotator", PASSWORD)
    page.goto(f"{live.url}/p/{w.a.id}/label")
    item = _item_on_page(page)
    page.context.set_offline(True)
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    page.wait_for_selector("#status.warn")
    assert "Connection lost" in page.inner_text("#status")
    draft = page.evaluate(f"localStorage.getItem('labelloop-draft:{w.a.id}:{item}')")
    assert draft and '"label":"ham"' in draft
    shot(page, "04-offline-draft-kept")
    assert item not in _human(live, w.a.id, "annotator")
    page.context.set_offline(False)
    _wait_past(page, item, timeout=20000)
    assert _human(live, w.a.id, "annotator")[item].label == 0


def _canvas_box(page: Any) -> dict[str, float]:
    return page.eval_on_selector("#box-canvas", "c => { const r = c.getBoundingClientRect();"
                                 " return {x: r.left, y: r.top, w: r.width, h: r.height,"
                                 " cw: c.width}; }")


def test_draw_and_correct_a_box(live: LiveServer, page: Any) -> None:
    w = live.world
    log_in(page, live.url, "annotator", PASSWORD)
    page.goto(f"{live.url}/p/{w.b.id}/label")
    page.wait_for_selector("#box-canvas[data-ready='1']")
    item = _item_on_page(page)
    assert page.get_attribute("#box-canvas", "data-boxes") == "1"  # the pre-box, editable
    r = _canvas_box(page)
    k = r["w"] / 320  # screen pixels per image pixel

    def at(x: float, y: float) -> tuple[float, float]:
        return r["x"] + x * k, r["y"] + y * k

    page.keyboard.press("2")  # draw in class "blue"
    page.mouse.move(*at(185, 95))
    page.mouse.down()
    page.mouse.move(*at(240, 150), steps=5)
    page.mouse.move(*at(270, 180), steps=5)
    page.mouse.up()
    assert page.get_attribute("#box-canvas", "data-boxes") == "2"
    shot(page, "05-box-drawn")
    doc_shot(page, "boxes")
    page.mouse.click(*at(230, 140))  # select it (a new box is left unselected) ...
    page.mouse.move(*at(270, 180))  # ... and correct it: drag the bottom-right corner
    page.mouse.down()
    page.mouse.move(*at(290, 200), steps=5)
    page.mouse.up()
    page.mouse.move(*at(80, 100))  # move the pre-box onto the red block
    page.mouse.down()
    page.mouse.move(*at(85, 105), steps=5)
    page.mouse.up()
    shot(page, "06-box-corrected")
    page.keyboard.press("Escape")
    page.keyboard.press("1")  # a third box in "red"; the next class key must not relabel it
    page.mouse.move(*at(200, 10))
    page.mouse.down()
    page.mouse.move(*at(240, 40), steps=5)
    page.mouse.up()
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    _wait_past(page, item)
    boxes = sorted(_human(live, w.b.id, "annotator")[item].boxes or [], key=lambda b: b.x)
    assert [b.label for b in boxes] == ["red", "blue", "red"]
    red, blue, _ = boxes
    assert red.x == pytest.approx(40, abs=2) and red.y == pytest.approx(50, abs=2)
    assert blue.x == pytest.approx(185, abs=2) and blue.y == pytest.approx(95, abs=2)
    assert blue.x + blue.w == pytest.approx(290, abs=2)
    assert blue.y + blue.h == pytest.approx(200, abs=2)
    page.mouse.move(*at(10, 10))
    shot(page, "07-next-image")


def test_reviewer_resolves_a_disagreement(live: LiveServer, page: Any) -> None:
    w = live.world
    item = w.a_items[2]
    for name, label in (("annotator", "ham"), (OTHER, "spam")):
        user = w.users.by_name(name)
        q = LabelingQueue(w.store, w.store.get_project("comments"))
        w.store.set_priorities(w.a.id, {item: 5.0})
        task = q.next(user)
        assert task is not None and task.item.id == item
        q.submit(user, item, parse_answer(w.a.schema, {"label": label}), 3.0)
    log_in(page, live.url, "reviewer", PASSWORD)
    page.goto(f"{live.url}/p/{w.a.id}/review")
    assert "disagreement" in page.inner_text("table.grid")
    shot(page, "08-review-queue")
    doc_shot(page, "review")
    page.click(f"a[href='/p/{w.a.id}/review/{item}']")
    page.wait_for_selector("#correct-form")
    shot(page, "09-review-item")
    page.check("#correct-form input[value='spam']")
    page.click("#correct-form button[type=submit]")
    page.wait_for_load_state()
    gold = [s for s in w.store.sources(w.a.id, kinds=["gold"]) if s.name == "review:reviewer"]
    assert gold
    anns = w.store.annotations(w.a.id, source_ids=[gold[0].id])
    assert [(a.item_id, a.label) for a in anns] == [(item, 1)]
    page.goto(f"{live.url}/p/{w.a.id}/dashboard")
    assert "Annotators" in page.inner_text("main")
    row = page.locator("tr", has_text="annotator").filter(has=page.locator("details")).first
    row.locator("summary").click()
    matrix = row.locator("table.confusion")
    assert matrix.is_visible()
    # the annotator answered ham where the reviewer's gold answer is spam
    assert matrix.locator("tbody tr").nth(1).inner_text().split() == ["spam", "1", "0"]
    shot(page, "10-dashboard-reviewer")
    doc_shot(page, "dashboard")


def test_admin_dashboard_and_users(live: LiveServer, page: Any) -> None:
    w = live.world
    log_in(page, live.url, "admin", PASSWORD)
    page.goto(f"{live.url}/p/{w.a.id}/dashboard")
    page.fill("input[name=honeypot_rate]", "0.1")
    page.click("form[hx-post$='/settings'] button[type=submit]")
    page.wait_for_selector("#settings-result .alert")
    assert w.store.get_project("comments").settings.honeypot_rate == 0.1
    assert "Open to every user" in page.inner_text("#members")
    page.select_option("#members select[name=user_id]", label=f"{OTHER} (annotator)")
    page.click("#members form button[type=submit]")
    page.wait_for_selector("#members li")
    assert OTHER in page.inner_text("#members li")
    from labelloop.services.members import Members

    assert Members(w.store).user_ids(w.a.id) == [w.users.by_name(OTHER).id]
    shot(page, "11-admin-dashboard")
    page.click("#members li button")
    page.wait_for_selector("#members li", state="detached")
    assert Members(w.store).user_ids(w.a.id) == []
    page.goto(f"{live.url}/admin/users")
    page.fill("input[name=name]", "carol")
    page.click("form[action='/admin/users'] button[type=submit]")
    page.wait_for_selector("#new-password")
    shot(page, "12-admin-users")
    assert w.users.by_name("carol").role == "annotator"


def test_honeypot_feedback_comes_right_after_the_answer(live: LiveServer, page: Any) -> None:
    w = live.world
    w.store.update_settings(w.a.id, w.a.settings.model_copy(update={"honeypot_rate": 0.5}))
    log_in(page, live.url, "annotator", PASSWORD)
    page.goto(f"{live.url}/p/{w.a.id}/label")  # the seeded draw mixes in the honeypot first
    assert _item_on_page(page) == w.honeypot
    assert "check item" not in page.inner_text("main").lower()  # nothing gives it away
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    page.wait_for_selector("#status.bad")
    assert "reference answer is spam" in page.inner_text("#status")
    shot(page, "13-honeypot-feedback")
    _wait_past(page, w.honeypot)


def test_reviewer_corrects_boxes(live: LiveServer, page: Any) -> None:
    w = live.world
    item = w.b_items[1]
    w.store.update_settings(w.b.id, w.b.settings.model_copy(update={"overlap": 2}))
    for name, x in (("annotator", 40), (OTHER, 150)):
        user = w.users.by_name(name)
        q = LabelingQueue(w.store, w.store.get_project("cells"))
        w.store.set_priorities(w.b.id, {item: 5.0})
        assert q.next(user).item.id == item  # type: ignore[union-attr]
        q.submit(user, item, parse_answer(w.b.schema, {"boxes": [
            {"x": x, "y": 50, "w": 80, "h": 90, "label": "red"}]}, (320, 240)))
    log_in(page, live.url, "reviewer", PASSWORD)
    page.goto(f"{live.url}/p/{w.b.id}/review/{item}")
    page.wait_for_selector("#box-canvas[data-ready='1']")
    assert page.get_attribute("#box-canvas", "data-boxes") == "1"
    r = _canvas_box(page)
    k = r["w"] / 320
    page.click(".class-btn[data-name='blue']")
    page.mouse.move(r["x"] + 185 * k, r["y"] + 95 * k)
    page.mouse.down()
    page.mouse.move(r["x"] + 290 * k, r["y"] + 200 * k, steps=5)
    page.mouse.up()
    shot(page, "14-review-boxes")
    page.click("#save-correction")
    page.wait_for_url(f"{live.url}/p/{w.b.id}/review")
    gold = [s for s in w.store.sources(w.b.id, kinds=["gold"]) if s.name == "review:reviewer"]
    boxes = w.store.annotations(w.b.id, source_ids=[gold[0].id])[0].boxes or []
    assert sorted(b.label for b in boxes) == ["blue", "red"]
