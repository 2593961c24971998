"""XSS payloads in every user-controlled field, rendered in chromium: none may run.

Payloads go into the project name, class names and descriptions, item text, metadata keys
and values, model and labeling-function source names, user names, review notes and the
login error (decision notes are stored, but no page shows them yet). Each calls
``__xss(tag)`` (an init script records the calls), opens a dialog, or breaks out of an
attribute; ``{{7*7}}`` checks that no template evaluates them. The browser context bypasses
the Content-Security-Policy, so the test checks the escaping itself, not only the CSP behind
it. Every page must show the payloads as text (in its text nodes, hidden ones such as class
descriptions included).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from browser_kit import LiveServer, log_in, shot
from server_world import PASSWORD

from labelloop.core.records import AnnotationRecord, ItemRecord
from labelloop.core.schema import LabelSchema, ProjectSettings
from labelloop.services.queue import LabelingQueue
from labelloop.services.review import Review

pytestmark = pytest.mark.browser
HOOK = "window.__hits = []; window.__xss = (tag) => window.__hits.push(String(tag));"
TEMPLATE = "{{7*7}}"


def payload(tag: str) -> str:
    """Script tag, event handler, attribute breaker and template expression, in one."""
    return (f'<img src=x onerror=__xss("{tag}")>"\'><svg onload=__xss("{tag}")>'
            f'<script>__xss("{tag}")</script>{TEMPLATE}')


def visible(tag: str) -> str:
    """A piece of the payload that must appear as text where the field is shown."""
    return f'onerror=__xss("{tag}")'


@pytest.fixture
def xss_project(live: LiveServer) -> dict[str, Any]:
    """A project whose every free-text field holds a payload, with votes and a review note."""
    w = live.world
    store = w.store
    schema = LabelSchema.parse({"task": "text-classification", "classes": {
        payload("c"): payload("d"), "fine": "javascript:__xss('href')"}})
    info = store.create_project(payload("p"), schema, ProjectSettings(overlap=2))
    items = store.import_records(info.id, [
        ItemRecord(data={"text": payload(f"t{i}"), "source <b>k</b>": payload(f"m{i}")})
        for i in range(4)]).item_ids
    model = store.ensure_source(info.id, "model", payload("s"), "1")
    lf = store.ensure_source(info.id, "labeling_function", payload("l"))
    store.upsert_annotations(info.id, [
        AnnotationRecord(item_id=i, source_id=src.id, label=0, confidence=0.6)
        for i in items for src in (model, lf)])
    info = store.project(info.id)
    people = [w.users.add(payload(n), "annotator", PASSWORD)[0] for n in ("u", "v")]
    queue = LabelingQueue(store, info)
    for person, label in zip(people, ("fine", schema.names[0]), strict=True):
        queue.submit(person, items[0], {"label": label})  # a disagreement to review
    reviewer = w.users.get(w.ids["reviewer"])
    Review(store, info).decide(reviewer, items[0], "send_back", note=payload("n"))
    for person, label in zip(people, ("fine", schema.names[0]), strict=True):
        queue.submit(person, items[1], {"label": label})
    return {"id": info.id, "item": items[1], "noted": items[0]}


@pytest.fixture
def xss_page(browser: Any) -> Iterator[Any]:
    """A page without CSP, recording payload calls and dialogs."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 860}, bypass_csp=True)
    ctx.set_default_timeout(10_000)
    ctx.add_init_script(HOOK)
    pg = ctx.new_page()
    pg.dialogs = []
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    yield pg
    ctx.close()


def check(page: Any, name: str, shown: list[str]) -> None:
    """No payload ran on the page, none injected an element, each listed one shows as text."""
    page.wait_for_load_state("networkidle")
    shot(page, f"xss-{name}")
    hits = page.evaluate("window.__hits")
    assert hits == [] and page.dialogs == [], f"{name}: payloads ran: {hits} {page.dialogs}"
    injected = page.evaluate("""() => [
        ...document.querySelectorAll('img[src="x"], svg[onload], [onerror], [onload]')
      ].map(e => e.outerHTML).concat([...document.querySelectorAll('script')]
        .filter(s => !s.src && s.type !== 'application/json' && s.text.includes('__xss'))
        .map(s => s.outerHTML))""")
    assert injected == [], f"{name}: injected elements {injected}"
    hrefs = page.evaluate("""() => [...document.querySelectorAll('[href], [src], [action]')]
        .map(e => e.getAttribute('href') || e.getAttribute('src') || e.getAttribute('action'))
        .filter(u => u.trim().toLowerCase().startsWith('javascript:'))""")
    assert hrefs == [], f"{name}: javascript: URLs {hrefs}"
    text = page.evaluate("""() => { const b = document.body.cloneNode(true);
        b.querySelectorAll('script').forEach(s => s.remove()); return b.textContent; }""")
    for tag in shown:
        assert visible(tag) in text, f"{name}: payload {tag!r} is not shown as text"
    if shown:
        assert TEMPLATE in text, f"{name}: {TEMPLATE} was evaluated or dropped"


def test_no_payload_runs_on_any_page(live: LiveServer, xss_project: dict[str, Any],
                                     xss_page: Any) -> None:
    pid, item = xss_project["id"], xss_project["item"]
    page = xss_page
    page.goto(f"{live.url}/login?error={quote(payload('e'))}&next={quote('javascript:__xss(1)')}")
    check(page, "login", [])

    log_in(page, live.url, "annotator", PASSWORD)
    check(page, "home", ["p"])
    page.goto(f"{live.url}/p/{pid}/label")
    page.wait_for_selector(".item-card")
    check(page, "label", ["p", "c", "d", "s"])
    assert any(visible(f"t{i}") in page.inner_text("#item-text") for i in range(4))
    fields = page.inner_text("dl.fields")
    assert "source <b>k</b>" in fields and any(visible(f"m{i}") in fields for i in range(4))
    first = page.get_attribute(".item-card", "data-item")
    page.keyboard.press("1")
    page.keyboard.press("Enter")  # answer: the page renders the next task with script
    page.wait_for_selector(f".item-card:not([data-item='{first}']), h1")
    check(page, "label-next", ["p", "c", "d"])
    page.context.clear_cookies()

    log_in(page, live.url, "reviewer", PASSWORD)
    page.goto(f"{live.url}/p/{pid}/review")
    check(page, "review-list", ["p", "t0", "t1"])
    page.goto(f"{live.url}/p/{pid}/review/{item}")
    check(page, "review-item", ["c", "t1", "u", "v", "s", "l"])
    page.goto(f"{live.url}/p/{pid}/review/{xss_project['noted']}")
    check(page, "review-sent-back", ["t0", "u", "v"])
    page.context.clear_cookies()

    log_in(page, live.url, "admin", PASSWORD)
    page.goto(f"{live.url}/p/{pid}/dashboard")
    check(page, "dashboard", ["p", "c", "u", "v"])
    page.goto(f"{live.url}/admin/users")
    check(page, "users", ["u", "v"])
