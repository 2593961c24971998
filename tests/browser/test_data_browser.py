"""The data browser in chromium: search, filter, check every match, bulk accept 1,000
items and see the count change; hidden columns stay hidden; item text stays text."""

from __future__ import annotations

from typing import Any

import pytest
from browser_kit import LiveServer, log_in, shot
from server_world import PASSWORD, XSS

from labelloop.core.records import ItemRecord, PendingAnnotation

pytestmark = pytest.mark.browser
N = 1000


def test_search_filter_and_bulk_accept_1000_items(live: LiveServer, page: Any) -> None:
    w = live.world
    items = [ItemRecord(data={"text": f"bulk row {i}"}) for i in range(N)]
    w.store.import_records(w.a.id, items, [
        PendingAnnotation(content_hash=it.content_hash, kind="label_model", name="lm",
                          label=i % 2, confidence=0.9) for i, it in enumerate(items)])
    log_in(page, live.url, "reviewer", PASSWORD)
    page.goto(f"{live.url}/p/{w.a.id}/dashboard")
    page.click("a[href$='/items']")  # the dashboard links to the browser
    page.wait_for_selector("#browse-table")
    assert page.evaluate("window.__pwned === undefined")  # the script item stayed text
    assert XSS[:20] in page.inner_text("#browse-table")

    page.fill("input[name=search]", "bulk row")
    page.check("input[name=state][value=auto]")
    page.click("#browse-filter button[type=submit]")
    page.wait_for_selector("#match-count")
    assert page.inner_text("#match-count") == "1,000"
    assert page.locator("input.row-check").count() == 50
    page.check("#scope-filter")  # every match, not just this page
    page.select_option("#bulk-action", "accept")
    shot(page, "30-browser-filtered")
    page.click("#bulk-apply")
    page.wait_for_selector("#bulk-report")
    assert "on 1000 of 1000 items" in page.inner_text("#bulk-report")
    assert page.inner_text("#match-count") == "0"  # none of them is "auto" any more
    page.uncheck("input[name=state][value=auto]")
    page.check("input[name=state][value=gold]")
    page.click("#browse-filter button[type=submit]")
    page.wait_for_selector("#match-count")
    assert page.inner_text("#match-count") == "1,000"
    assert "gold" in page.inner_text("#browse-table tbody tr:first-child .col-state")
    shot(page, "31-browser-accepted")

    page.uncheck("#columns input[data-col=text]")  # hide a column; it stays hidden
    page.reload()
    page.wait_for_selector("#browse-table")
    assert not page.is_visible("#browse-table th.col-text")
    assert page.is_visible("#browse-table th.col-state")
    assert not page.js_errors
