"""Label spans in chromium: with the mouse and the keyboard, relabel, delete, accept the
suggested spans in one key, blind mode, submit, review; markup in a text stays text."""

from __future__ import annotations

from typing import Any

import pytest
from browser_kit import LiveServer, log_in, shot
from server_world import OTHER, PASSWORD
from span_world import SPAN_XSS, TEXTS, SpanWorld, add_span_project

from labelloop.services.queue import LabelingQueue

pytestmark = pytest.mark.browser


def _stored(live: LiveServer, sw: SpanWorld, name: str) -> dict[int, list[tuple[str, str]]]:
    """Each item's spans by ``name`` as (label, covered text)."""
    w = live.world
    src = [s for s in w.store.sources(sw.project.id, kinds=["human"]) if s.name == name]
    if not src:
        return {}
    texts = {it.id: it.text or "" for it in w.store.items(sw.project.id)}
    return {a.item_id: [(s.label, texts[a.item_id][s.start:s.end]) for s in a.spans or []]
            for a in w.store.annotations(sw.project.id, source_ids=[src[0].id])}


def _tok(page: Any, word: str) -> Any:
    return page.locator("#span-text .tok", has_text=word).first


def _drag(page: Any, first: str, last: str) -> None:
    a, b = _tok(page, first).bounding_box(), _tok(page, last).bounding_box()
    page.mouse.move(a["x"] + 3, a["y"] + a["height"] / 2)
    page.mouse.down()
    page.mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2, steps=4)
    page.mouse.up()


def _data(page: Any, key: str) -> str:
    return str(page.get_attribute("#span-text", f"data-{key}"))


def _item(page: Any) -> int:
    return int(page.get_attribute(".item-card", "data-item"))


def _next_item(page: Any, item: int) -> None:
    page.wait_for_selector(f".item-card:not([data-item='{item}']), h1:has-text('Nothing left')")


def test_label_spans_with_mouse_and_keyboard(live: LiveServer, page: Any) -> None:
    sw = add_span_project(live.world.store)
    page.add_init_script("window.__pwned = 0;")
    log_in(page, live.url, "annotator", PASSWORD)
    page.goto(f"{live.url}/p/{sw.project.id}/label")
    page.wait_for_selector("#span-text[data-ready='1']")
    assert _item(page) == sw.items[0]
    # the label model's spans: dashed, with their confidence; blind mode hides them
    assert _data(page, "suggested") == "3" and _data(page, "spans") == "0"
    assert page.locator(".span-tag.pre", has_text="PER 90%").count() == 1
    assert "62% confident" in page.inner_text("#suggestion")
    page.check("#hide-suggestion")
    assert _data(page, "suggested") == "0" and not page.is_visible("#suggestion")
    page.uncheck("#hide-suggestion")
    assert _data(page, "suggested") == "3"
    shot(page, "20-spans-suggested")
    page.keyboard.press("a")  # accept all three at once
    assert _data(page, "suggested") == "0" and _data(page, "spans") == "3"
    _tok(page, "Babbage").click()  # pick "Charles Babbage" ...
    page.keyboard.press("2")  # ... and relabel it ORG
    assert page.locator(".span-tag", has_text="ORG").count() == 1
    _tok(page, "London").click()
    page.keyboard.press("Delete")
    assert _data(page, "spans") == "2"
    page.keyboard.press("Control+z")  # undo the deletion, then delete with Backspace
    assert _data(page, "spans") == "3"
    _tok(page, "London").click()
    page.keyboard.press("Backspace")
    assert _data(page, "spans") == "2"
    _drag(page, "in", "London")  # the mouse selects whole tokens
    assert _data(page, "selection") == "33-42"
    page.keyboard.press("3")
    shot(page, "21-spans-edited")
    first = _item(page)
    page.keyboard.press("Enter")
    _next_item(page, first)

    # undo brings the answer back, editable, without the suggestions
    page.wait_for_selector("#span-text[data-ready='1']")
    page.keyboard.press("u")
    page.wait_for_url(f"**/label?item={first}")
    page.wait_for_selector("#span-text[data-ready='1']")
    assert _data(page, "spans") == "3" and _data(page, "suggested") == "0"
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live.url}/p/{sw.project.id}/label")

    # the second text with the keyboard only, then one span with the mouse
    page.wait_for_selector("#span-text[data-ready='1']")
    assert _item(page) == sw.items[1] and _data(page, "suggested") == "0"
    page.keyboard.press("Home")  # "Grace"
    page.keyboard.press("Shift+ArrowRight")  # "Grace Hopper"
    page.keyboard.press("1")
    for _ in range(3):
        page.keyboard.press("ArrowRight")  # joined, the, Navy
    page.keyboard.press("2")
    _drag(page, "Remington", "Rand")
    page.click(".class-btn[data-index='1']")  # a class button labels the selection too
    assert _data(page, "spans") == "3"
    page.keyboard.press("Enter")
    _next_item(page, sw.items[1])

    # markup in the text is shown as text, token by token; nothing runs
    page.wait_for_selector("#span-text[data-ready='1']")
    assert _item(page) == sw.items[2]
    assert page.inner_text("#span-text") == SPAN_XSS
    assert page.evaluate("window.__pwned") == 0
    assert page.locator("#span-text img, #span-text script").count() == 0
    _tok(page, "Ada").click()
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    _next_item(page, sw.items[2])

    mine = _stored(live, sw, "annotator")
    assert mine[sw.items[0]] == [("PER", "Ada Lovelace"), ("ORG", "Charles Babbage"),
                                 ("LOC", "in London")]
    assert mine[sw.items[1]] == [("PER", "Grace Hopper"), ("ORG", "Navy"),
                                 ("ORG", "Remington Rand")]
    assert mine[sw.items[2]] == [("PER", "Ada")]
    assert all(e.startswith("Failed to load resource") for e in page.js_errors), page.js_errors

    assert page.is_visible("h1:has-text('Nothing left')")


def test_reviewer_sees_each_votes_spans_and_corrects_them(live: LiveServer, page: Any) -> None:
    w = live.world
    sw = add_span_project(w.store)
    text = TEXTS[0]
    for name, label in (("annotator", "PER"), (OTHER, "ORG")):
        user = w.users.get(w.ids[name])
        q = LabelingQueue(w.store, sw.project)
        task = q.next(user)
        assert task is not None and task.item.id == sw.items[0]
        q.submit(user, sw.items[0], {"spans": [
            {"start": 0, "end": 12, "label": label}, {"start": 36, "end": 42, "label": "LOC"}]})
    log_in(page, live.url, "reviewer", PASSWORD)
    page.goto(f"{live.url}/p/{sw.project.id}/review/{sw.items[0]}")
    page.wait_for_selector("#span-text[data-ready='1']")
    for name, label in (("annotator", "PER"), (OTHER, "ORG")):
        marks = page.locator(f".review-spans[data-source='{name}'] mark")
        assert marks.all_inner_texts() == [f"Ada Lovelace{label}", "LondonLOC"]
    assert _data(page, "spans") == "2"  # the first person's spans, to edit
    _tok(page, "London").click()
    page.keyboard.press("Delete")
    _drag(page, "Charles", "Babbage")
    page.keyboard.press("1")
    shot(page, "22-spans-review")
    page.click("#save-correction")
    page.wait_for_url(f"{live.url}/p/{sw.project.id}/review")
    gold = [s for s in w.store.sources(sw.project.id, kinds=["gold"])
            if s.name == "review:reviewer"]
    kept = w.store.annotations(sw.project.id, source_ids=[gold[0].id])[0]
    got = sorted((s.label, text[s.start:s.end]) for s in kept.spans or [])
    assert got == [("PER", "Ada Lovelace"), ("PER", "Charles Babbage")]


def test_editor_tokens_match_the_server_tokenizer(page: Any) -> None:
    """Offsets count code points on both sides: emoji, accents, digits, underscores."""
    from pathlib import Path

    from labelloop.core.spans import tokenize

    js = Path(__file__).resolve().parents[2] / "src/labelloop/server/ui/static/spans.js"
    page.set_content("<div id='t'></div>")
    page.add_script_tag(path=str(js))
    texts = ["Ada Lovelace met Babbage.", "Zoë 😀 went to São Paulo, e\u0301 x_y 3.14!",
             "  tabs\tand\nnewlines  ", "日本語のテキスト、東京。", "a🏳️‍🌈b", ""]
    for text in texts:
        got = page.evaluate(
            "t => LabelloopSpans.tokenize(t).map(k => [k.s, k.e])", text)
        assert [tuple(x) for x in got] == tokenize(text), text
    # a span given in code points is drawn on the right words and comes back unchanged
    text = "😀😀 Zoë met São Paulo"
    start = text.index("São")
    spans = page.evaluate("""([text, start]) => {
        const ed = LabelloopSpans(document.getElementById('t'), {text: text,
          classes: ['LOC'], spans: [{start: start, end: start + 9, label: 'LOC'}]});
        return [ed.getSpans(), document.querySelector('.tok.sp.sb').textContent];
    }""", [text, start])
    assert spans == [[{"start": start, "end": start + 9, "label": "LOC"}], "São"]
