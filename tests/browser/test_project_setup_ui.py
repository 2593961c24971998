"""Project setup in chromium: an admin creates a project on Home, edits a class and the
instructions on the dashboard; an annotator reads them beside the item."""

from __future__ import annotations

from typing import Any

import pytest
from browser_kit import LiveServer, log_in, shot
from server_world import PASSWORD

from labelloop.core.records import ItemRecord

pytestmark = pytest.mark.browser

INSTRUCTIONS = """## How to label

Pick **toxic** for insults. See the [policy](https://example.org/policy).

<script>window.__pwned = 1</script>"""


def test_admin_sets_up_a_project_and_the_annotator_reads_the_instructions(
        live: LiveServer, page: Any, browser: Any) -> None:
    w = live.world
    log_in(page, live.url, "admin", PASSWORD)
    page.fill("#new-project-form input[name=name]", "comments")  # taken: refused inline
    page.fill("#new-project-form textarea[name=classes]", "fine\ntoxic")
    page.click("#new-project-form button[type=submit]")
    assert "already exists" in page.inner_text("#create-error")
    assert page.input_value("#new-project-form textarea[name=classes]") == "fine\ntoxic"
    page.fill("#new-project-form input[name=name]", "toxicity")
    page.select_option("#new-project-form select[name=task]", "text-classification")
    page.fill("#new-project-form textarea[name=classes]",
              "fine: nothing wrong\ntoxic: insults or threats #e03131")
    page.click("#new-project-form button[type=submit]")
    page.wait_for_url(f"{live.url}/p/*/dashboard")
    project = w.store.get_project("toxicity")
    assert project.schema.names == ["fine", "toxic"]

    page.fill("#classes-form input[name=description] >> nth=0", "polite or neutral")
    page.click("#classes-form button[type=submit]")
    page.wait_for_selector("#classes-card .alert.good")
    page.fill("#instructions-form textarea[name=instructions]", INSTRUCTIONS)
    page.click("#instructions-form button[type=submit]")
    page.wait_for_selector("#instructions-card .alert.good")
    shot(page, "setup-01-dashboard-classes-and-instructions")
    info = w.store.project(project.id)
    assert info.schema.classes[0].description == "polite or neutral"
    assert info.settings.instructions == INSTRUCTIONS

    w.store.import_records(project.id, [ItemRecord(data={"text": "you are great"})])
    ctx = browser.new_context(viewport={"width": 1280, "height": 860})
    try:
        ann = ctx.new_page()
        log_in(ann, live.url, "annotator", PASSWORD)
        ann.goto(f"{live.url}/p/{project.id}/label")
        panel = ann.locator("#instructions-panel")
        assert panel.is_visible()
        assert ann.inner_text("#instructions-panel h2") == "How to label"
        link = ann.locator("#instructions-panel a")
        assert link.get_attribute("href") == "https://example.org/policy"
        assert "<script>" in ann.inner_text("#instructions-panel")  # shown as text
        assert ann.evaluate("window.__pwned") is None
        assert ann.get_attribute(".class-btn[data-index='0']", "title") == "polite or neutral"
        color = ann.eval_on_selector(".class-btn[data-index='1']",
                                     "b => getComputedStyle(b).borderLeftColor")
        assert color == "rgb(224, 49, 49)"
        assert "Today: 0 answered" in ann.inner_text("#progress")
        shot(ann, "setup-02-label-instructions-panel")
        ann.click("#instructions-panel summary")  # collapses
        assert not ann.locator("#instructions-panel .instructions").is_visible()
    finally:
        ctx.close()
    # the refused name answered 409 (chromium logs the status); nothing else went wrong
    assert [e for e in page.js_errors if "status of 409" not in e] == []
