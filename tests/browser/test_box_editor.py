"""The box editor in chromium: zoom and pan keep boxes in image pixels, the list of boxes
selects, relabels, hides and deletes them, the arrow keys nudge and resize; an image to
classify zooms and pans the same way."""

from __future__ import annotations

import re
from typing import Any

import pytest
from browser_kit import LiveServer, log_in, shot
from playwright.sync_api import expect
from server_world import PASSWORD, png

from labelloop.core.records import AnnotationRecord, ItemRecord
from labelloop.core.schema import LabelSchema
from labelloop.services.queue import LabelingQueue, parse_answer

pytestmark = pytest.mark.browser


def _stored(live: LiveServer, item: int) -> AnnotationRecord:
    w = live.world
    src = [s for s in w.store.sources(w.b.id, kinds=["human"]) if s.name == "annotator"]
    return {a.item_id: a for a in w.store.annotations(w.b.id, source_ids=[src[0].id])}[item]


def _open(live: LiveServer, page: Any) -> tuple[int, dict[str, float]]:
    """Log in, open the first image (the one with a suggested box); its item id and canvas."""
    log_in(page, live.url, "annotator", PASSWORD)
    page.goto(f"{live.url}/p/{live.world.b.id}/label")
    page.wait_for_selector("#box-canvas[data-ready='1']")
    assert page.get_attribute("#box-canvas", "data-boxes") == "1"
    r = page.eval_on_selector("#box-canvas", "c => { const r = c.getBoundingClientRect();"
                              " return {x: r.left, y: r.top, w: r.width}; }")
    return int(page.get_attribute(".item-card", "data-item")), r


def _drag(page: Any, a: tuple[float, float], b: tuple[float, float], button: str = "left") -> None:
    page.mouse.move(*a)
    page.mouse.down(button=button)
    page.mouse.move((a[0] + b[0]) / 2, (a[1] + b[1]) / 2, steps=3)
    page.mouse.move(*b, steps=3)
    page.mouse.up(button=button)


def _zoom(page: Any) -> float:
    return float(page.get_attribute("#box-canvas", "data-zoom"))


def _view(page: Any) -> tuple[float, float]:
    x, y = page.get_attribute("#box-canvas", "data-view").split(",")
    return float(x), float(y)


def test_boxes_drawn_while_zoomed_and_panned_land_in_image_pixels(
        live: LiveServer, page: Any) -> None:
    item, r = _open(live, page)
    k = r["w"] / 320  # screen pixels per image pixel at fit

    def at(x: float, y: float) -> tuple[float, float]:
        return r["x"] + x * k, r["y"] + y * k

    page.mouse.move(*at(200, 150))
    for _ in range(3):
        page.mouse.wheel(0, -100)
    page.wait_for_function("document.querySelector('#box-canvas').dataset.zoom > 1.5")
    z = _zoom(page)
    assert 1.5 < z < 1.7
    assert page.inner_text(".box-zoom") == f"{round(z * 100)}%"
    # zooming kept image point (200, 150) under the pointer
    page.keyboard.press("2")  # class "blue"
    x0, y0 = at(200, 150)
    _drag(page, (x0, y0), (x0 + 30 * k * z, y0 + 20 * k * z))
    # pan with the middle button: the view moves 40 image pixels right, 20 down
    before = _view(page)
    _drag(page, at(100, 100), (at(100, 100)[0] - 40 * k * z, at(100, 100)[1] - 20 * k * z),
          button="middle")
    after = _view(page)
    assert after[0] - before[0] == pytest.approx(40, abs=0.5)
    assert after[1] - before[1] == pytest.approx(20, abs=0.5)
    assert page.get_attribute("#box-canvas", "data-boxes") == "2"  # panning drew nothing
    _drag(page, (x0, y0), (x0 + 20 * k * z, y0 + 10 * k * z))  # image point (240, 170) now
    shot(page, "30-box-zoomed")
    page.keyboard.press("0")  # fit
    assert _zoom(page) == 1 and _view(page) == (0, 0)
    # space+drag pans too, once zoomed in with "+"
    page.keyboard.press("+")
    page.keyboard.press("+")
    before = _view(page)
    z = _zoom(page)
    page.keyboard.down(" ")
    _drag(page, at(150, 120), (at(150, 120)[0] + 10 * k * z, at(150, 120)[1]))
    page.keyboard.up(" ")
    assert _view(page)[0] - before[0] == pytest.approx(-10, abs=0.5)
    assert page.get_attribute("#box-canvas", "data-boxes") == "3"
    page.click(".box-fit")
    assert _zoom(page) == 1
    page.keyboard.press("Enter")
    page.wait_for_selector(f".item-card:not([data-item='{item}']), h1:has-text('Nothing left')")
    boxes = sorted(_stored(live, item).boxes or [], key=lambda b: b.x)
    assert [b.label for b in boxes] == ["red", "blue", "blue"]  # the suggestion, then the two
    _, first, second = boxes
    assert (first.x, first.y, first.w, first.h) == pytest.approx((200, 150, 30, 20), abs=1)
    assert (second.x, second.y, second.w, second.h) == pytest.approx((240, 170, 20, 10), abs=1)
    assert not page.js_errors


def test_the_box_list_selects_relabels_hides_deletes_and_the_arrows_nudge(
        live: LiveServer, page: Any) -> None:
    item, r = _open(live, page)
    k = r["w"] / 320

    def at(x: float, y: float) -> tuple[float, float]:
        return r["x"] + x * k, r["y"] + y * k

    rows = page.locator("#box-regions li.region")
    assert rows.count() == 1 and rows.nth(0).locator(".region-pre").count() == 1  # suggested
    _drag(page, at(150, 20), at(200, 60))   # box 2, "red"
    _drag(page, at(180, 100), at(280, 190))  # box 3, "red"
    assert rows.count() == 3  # the list follows the canvas
    assert rows.nth(2).locator(".region-size").inner_text() == "100×90"
    # select box 2 from the list, relabel it with a class key, nudge and resize it
    rows.nth(1).locator(".region-pick").click()
    assert rows.nth(1).get_attribute("class") == "region selected"
    page.keyboard.press("2")
    assert rows.nth(1).locator(".region-class").input_value() == "blue"
    expect(rows.nth(1).locator(".region-pick")).to_have_accessible_name(
        re.compile(r"^Select box #2 50×40 ?, blue$"))
    for key in ("ArrowRight", "ArrowRight", "ArrowRight", "Shift+ArrowDown", "Alt+ArrowRight",
                "Control+ArrowUp"):
        page.keyboard.press(key)
    assert rows.nth(1).locator(".region-size").inner_text() == "51×39"
    # box 3: relabel with the list's select, then hide it: the canvas no longer picks it
    rows.nth(2).locator(".region-class").select_option("blue")
    rows.nth(2).locator(".region-eye").click()
    assert "hidden-box" in (rows.nth(2).get_attribute("class") or "")
    page.mouse.click(*at(230, 150))
    assert page.locator("#box-regions li.region.selected").count() == 0
    # the suggestion: moved up past the edge it stops at 0, and is no longer "suggested"
    rows.nth(0).locator(".region-pick").click()
    for _ in range(6):
        page.keyboard.press("Shift+ArrowUp")
    assert rows.nth(0).locator(".region-pre").count() == 0
    assert rows.nth(0).locator(".region-pick").get_attribute("title") == "Select box 1 at 35, 0"
    shot(page, "31-box-list")
    rows.nth(0).locator(".region-del").click()  # ... and deleted
    assert rows.count() == 2 and page.get_attribute("#box-canvas", "data-boxes") == "2"
    page.keyboard.press("Enter")
    page.wait_for_selector(f".item-card:not([data-item='{item}']), h1:has-text('Nothing left')")
    boxes = sorted(_stored(live, item).boxes or [], key=lambda b: b.x)
    assert [(b.label, b.x, b.y, b.w, b.h) for b in boxes] == [
        ("blue", pytest.approx(153, abs=1), pytest.approx(30, abs=1),
         pytest.approx(51, abs=1), pytest.approx(39, abs=1)),
        ("blue", pytest.approx(180, abs=1), pytest.approx(100, abs=1),
         pytest.approx(100, abs=1), pytest.approx(90, abs=1)),  # hidden, still part of it
    ]
    assert not page.js_errors


def test_an_image_to_classify_zooms_and_pans(live: LiveServer, page: Any) -> None:
    w = live.world
    png(w.media / "big.png", size=(640, 480))
    pics = w.store.create_project("pics", LabelSchema.parse(
        {"task": "image-classification", "classes": {"red": "Red", "blue": "Blue"}}))
    w.store.import_records(pics.id, [ItemRecord(data={"image": "big.png"}, width=640, height=480)])
    log_in(page, live.url, "annotator", PASSWORD)
    page.goto(f"{live.url}/p/{pics.id}/label")
    page.wait_for_selector(".zoom-frame[data-ready='1']")
    item = int(page.get_attribute(".item-card", "data-item"))

    def rect(sel: str) -> dict[str, float]:
        return page.eval_on_selector(sel, "e => { const r = e.getBoundingClientRect();"
                                     " return {x: r.left, y: r.top, w: r.width, h: r.height}; }")

    def image_point(cx: float, cy: float) -> tuple[float, float]:
        """The image pixel the browser shows at client point (cx, cy)."""
        r = rect(".zoom-frame img")
        return (cx - r["x"]) * 640 / r["w"], (cy - r["y"]) * 480 / r["h"]

    f = rect(".zoom-frame")
    cx, cy = f["x"] + f["w"] * 0.6, f["y"] + f["h"] * 0.5
    under = image_point(cx, cy)
    page.mouse.move(cx, cy)
    for _ in range(4):
        page.mouse.wheel(0, -100)
    page.wait_for_function("document.querySelector('.zoom-frame').dataset.zoom > 1.7")
    assert image_point(cx, cy) == pytest.approx(under, abs=0.5)  # zoomed around the pointer
    assert rect(".zoom-frame") == f  # the frame keeps its place; the image grows inside it
    before = rect(".zoom-frame img")
    _drag(page, (cx, cy), (cx - 50, cy - 30))
    after = rect(".zoom-frame img")
    assert (after["x"] - before["x"], after["y"] - before["y"]) == pytest.approx((-50, -30), abs=1)
    shot(page, "32-image-zoomed")
    page.keyboard.press("0")
    assert rect(".zoom-frame img") == pytest.approx(f)
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    page.wait_for_selector(f".item-card:not([data-item='{item}']), h1:has-text('Nothing left')")
    src = [s for s in w.store.sources(pics.id, kinds=["human"]) if s.name == "annotator"]
    assert w.store.annotations(pics.id, source_ids=[src[0].id])[0].label == 1
    assert not page.js_errors


def test_the_reviewer_edits_boxes_from_the_list(live: LiveServer, page: Any) -> None:
    w = live.world
    item = w.b_items[1]
    user = w.users.by_name("annotator")
    q = LabelingQueue(w.store, w.store.get_project("cells"))
    w.store.set_priorities(w.b.id, {item: 5.0})
    assert q.next(user).item.id == item  # type: ignore[union-attr]
    q.submit(user, item, parse_answer(w.b.schema, {"boxes": [
        {"x": 40, "y": 50, "w": 80, "h": 90, "label": "red"},
        {"x": 180, "y": 90, "w": 110, "h": 110, "label": "red"}]}, (320, 240)))
    log_in(page, live.url, "reviewer", PASSWORD)
    page.goto(f"{live.url}/p/{w.b.id}/review/{item}")
    page.wait_for_selector("#box-canvas[data-ready='1']")
    rows = page.locator("#box-regions li.region")
    assert rows.count() == 2
    rows.nth(1).locator(".region-class").select_option("blue")
    rows.nth(0).locator(".region-del").click()
    rows.nth(0).locator(".region-pick").click()  # the blue one, now first
    page.keyboard.press("Shift+ArrowLeft")
    page.keyboard.press("Control+ArrowDown")
    shot(page, "33-review-box-list")
    page.click("#save-correction")
    page.wait_for_url(f"{live.url}/p/{w.b.id}/review")
    gold = [s for s in w.store.sources(w.b.id, kinds=["gold"]) if s.name == "review:reviewer"]
    boxes = w.store.annotations(w.b.id, source_ids=[gold[0].id])[0].boxes or []
    assert [(b.label, b.x, b.y, b.w, b.h) for b in boxes] == [("blue", 170, 90, 110, 111)]
    assert not page.js_errors
