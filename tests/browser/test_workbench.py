"""Day-one defects of the workbench, in chromium: an expired session keeps the answer, form
errors are shown where the form is."""

from __future__ import annotations

import json
from typing import Any

import pytest
from browser_kit import LiveServer, log_in, shot
from playwright.sync_api import Error as PlaywrightError
from server_world import PASSWORD

pytestmark = pytest.mark.browser


def _drafts(page: Any) -> list[str]:
    return json.loads(page.evaluate(
        "JSON.stringify(Object.keys(localStorage).filter(k => k.startsWith('labelloop-draft:')))"))


def test_an_expired_session_keeps_the_answer_and_sends_it_after_log_in(
        live: LiveServer, page: Any) -> None:
    w = live.world
    log_in(page, live.url, "annotator", PASSWORD)
    page.goto(f"{live.url}/p/{w.a.id}/label")
    item = int(page.get_attribute(".item-card", "data-item"))
    page.context.clear_cookies()  # the session ends while the annotator works
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    link = page.wait_for_selector("#status #login-again")
    assert "session has expired" in page.inner_text("#status")
    assert "Bearer" not in page.inner_text("#status")  # no raw API message
    assert _drafts(page) == [f"labelloop-draft:{w.a.id}:{item}"]  # the answer is kept
    shot(page, "20-session-expired")
    link.click()
    page.wait_for_selector("input[name=password]")
    assert "expired" in page.inner_text("main")
    page.fill("input[name=name]", "annotator")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live.url}/p/{w.a.id}/label*")
    left: list[str] | None = None
    for _ in range(100):  # the page's CSP forbids wait_for_function's string eval
        try:
            left = _drafts(page)
        except PlaywrightError:  # the page moved on to the next item meanwhile
            left = None
        if left == []:
            break
        page.wait_for_timeout(100)
    assert left == []
    human = [s for s in w.store.sources(w.a.id, kinds=["human"]) if s.name == "annotator"]
    stored = {a.item_id: a for a in w.store.annotations(w.a.id, source_ids=[human[0].id])}
    assert stored[item].label == 1  # sent once the annotator was back


def test_form_errors_are_shown_next_to_the_form(live: LiveServer, page: Any) -> None:
    w = live.world
    log_in(page, live.url, "admin", PASSWORD)
    page.goto(f"{live.url}/p/{w.a.id}/dashboard")
    before = w.store.get_project("comments").settings.claim_minutes
    page.fill("input[name=claim_minutes]", "")
    page.click("form[hx-post$='/settings'] button[type=submit]")
    alert = page.wait_for_selector("#settings-result [role=alert]")
    assert "claim_minutes" in alert.inner_text()
    assert w.store.get_project("comments").settings.claim_minutes == before
    shot(page, "21-settings-error")
    # a duplicate user: the users page again, with the reason above the form
    page.goto(f"{live.url}/admin/users")
    page.fill("input[name=name]", "annotator")
    page.select_option("select[name=role]", "reviewer")
    page.click("form[action='/admin/users'] button[type=submit]")
    err = page.wait_for_selector("#add-user-error")
    assert "annotator" in err.inner_text()
    assert "Error 409" not in page.inner_text("main")
    assert page.input_value("input[name=name]") == "annotator"
    assert page.input_value("select[name=role]") == "reviewer"


def test_no_page_scrolls_sideways_on_a_phone(live: LiveServer, browser: Any) -> None:
    """Issue 13: at 390 px the pages scrolled sideways."""
    w = live.world
    ctx = browser.new_context(viewport={"width": 390, "height": 844})
    page = ctx.new_page()
    wide = {}
    try:
        for who, paths in (
                ("annotator", ["/", f"/p/{w.a.id}/label", f"/p/{w.b.id}/label", "/account"]),
                ("admin", ["/", f"/p/{w.a.id}/dashboard", f"/p/{w.a.id}/review",
                           "/admin/users", f"/p/{w.a.id}/label"])):
            log_in(page, live.url, who, PASSWORD)
            for path in paths:
                page.goto(live.url + path)
                page.wait_for_load_state("networkidle")
                width = page.evaluate("document.documentElement.scrollWidth")
                if width > 390:
                    wide[f"{who} {path}"] = width
            page.context.clear_cookies()
        shot(page, "22-phone")
    finally:
        ctx.close()
    assert wide == {}


def test_the_api_reference_page_works_offline(live: LiveServer, page: Any) -> None:
    """Issue 13: an API docs page at /api/v1/docs with no CDN."""
    hosts: set[str] = set()
    page.on("request", lambda r: hosts.add(r.url.split("/")[2]))
    page.goto(f"{live.url}/api/v1/docs")
    page.wait_for_selector(".opblock-summary-path")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/queue/next" in p for p in paths)
    assert hosts == {live.url.split("/")[2]}  # nothing from another host
    assert page.js_errors == []
    shot(page, "23-api-docs")
