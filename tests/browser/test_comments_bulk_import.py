"""Comments, bulk send-to-review and delete, and the dashboard import, in chromium.

An annotator's comment reaches reviewers (review page, data browser) and never another
annotator; a reviewer's reply reaches the annotator it is addressed to. A filter of 1,000
items is sent to review, then deleted after the confirmation page. An import shows its
progress bar while it runs, then what it stored; a file with bad rows shows one table row
per bad row and that nothing was imported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from browser_kit import LiveServer, log_in, shot
from server_world import OTHER, PASSWORD

from labelloop.core.records import ItemRecord, PendingAnnotation

pytestmark = pytest.mark.browser
N = 1000
QUESTION = "<b>is this spam?</b> the link looks odd"


def _as(browser: Any, live: LiveServer, name: str) -> Any:
    ctx = browser.new_context(viewport={"width": 1280, "height": 860})
    ctx.set_default_timeout(10_000)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.js_errors = errors
    log_in(page, live.url, name, PASSWORD)
    return page


def test_a_comment_reaches_reviewers_and_never_another_annotator(
    live: LiveServer, browser: Any
) -> None:
    pid = live.world.a.id
    ann = _as(browser, live, "annotator")
    ann.goto(f"{live.url}/p/{pid}/label")
    item = ann.get_attribute(".item-card", "data-item")
    ann.fill("#comment-text", QUESTION)
    ann.press("#comment-text", "1")  # typing a digit in the box labels nothing
    ann.click("#comment-add")
    ann.wait_for_selector(f"#comment-list .comment:has-text('{QUESTION[3:16]}')")
    assert QUESTION + "1" in ann.inner_text("#comment-list")  # shown as text, not markup
    assert ann.locator("#comment-list b").first.inner_text() == "annotator"
    shot(ann, "40-comment-annotator")

    other = _as(browser, live, OTHER)
    other.goto(f"{live.url}/p/{pid}/label")
    assert other.get_attribute(".item-card", "data-item") == item  # the same item
    assert "is this spam" not in other.inner_text("#comments")
    assert "No comments yet." in other.inner_text("#comments")

    rev = _as(browser, live, "reviewer")
    rev.goto(f"{live.url}/p/{pid}/items?has_comments=true")
    assert rev.locator("input.row-check").count() == 1
    assert rev.inner_text("#browse-table tbody .col-comments") == "1"
    rev.click("#browse-table tbody .col-comments a")
    rev.wait_for_url(f"**/review/{item}*")
    assert QUESTION + "1" in rev.inner_text("#comment-list")
    rev.fill("#comment-text", "yes: a link to a channel is spam")
    rev.select_option("#comment-reply-to", label="annotator")
    rev.click("#comment-add")
    rev.wait_for_selector("#comment-list .comment:has-text('a link to a channel')")
    shot(rev, "41-comment-reviewer")

    ann.goto(f"{live.url}/p/{pid}/label")  # the annotator's open task, with the reply
    assert "a link to a channel is spam" in ann.inner_text("#comment-list")
    other.goto(f"{live.url}/p/{pid}/label")
    assert "a link to a channel" not in other.inner_text("#comments")
    for p in (ann, other, rev):
        assert not p.js_errors
        p.context.close()


def test_send_a_filter_of_1000_items_to_review_then_delete_it(live: LiveServer, page: Any) -> None:
    w = live.world
    items = [ItemRecord(data={"text": f"bulk row {i}"}) for i in range(N)]
    w.store.import_records(
        w.a.id,
        items,
        [
            PendingAnnotation(
                content_hash=it.content_hash,
                kind="label_model",
                name="lm",
                label=i % 2,
                confidence=0.9,
            )
            for i, it in enumerate(items)
        ],
    )
    log_in(page, live.url, "admin", PASSWORD)
    page.goto(f"{live.url}/p/{w.a.id}/items")
    page.fill("input[name=search]", "bulk row")
    page.click("#browse-filter button[type=submit]")
    page.wait_for_selector("#match-count")
    assert page.inner_text("#match-count") == "1,000"
    page.check("#scope-filter")
    page.select_option("#bulk-action", "send_to_review")
    page.click("#bulk-apply")
    page.wait_for_selector("#bulk-report")
    assert "Sent 1000 of 1000 items to review" in page.inner_text("#bulk-report")

    page.goto(f"{live.url}/p/{w.a.id}/review?reason=requested")
    assert "bulk row 0" in page.inner_text("main")
    assert "requested" in page.inner_text("main")

    page.goto(f"{live.url}/p/{w.a.id}/items?search=bulk+row")
    page.check("#scope-filter")
    page.select_option("#bulk-action", "delete")
    page.click("#bulk-apply")
    page.wait_for_selector("#delete-confirm")
    assert "Delete 1,000 items?" in page.inner_text("h1")
    assert w.store.browse_count(w.a.id, _all()) == N + 7  # nothing deleted yet
    shot(page, "42-bulk-delete-confirm")
    page.click("#confirm-delete")
    page.wait_for_selector("#bulk-report")
    assert "Deleted 1000 items." in page.inner_text("#bulk-report")
    assert page.inner_text("#match-count") == "0"
    assert w.store.browse_count(w.a.id, _all()) == 7
    page.goto(f"{live.url}/p/{w.a.id}/review?reason=requested")
    assert "bulk row" not in page.inner_text("main")
    assert not page.js_errors


def _all() -> Any:
    from labelloop.storage.browse import BrowseFilter

    return BrowseFilter()


def _csv(path: Path, n: int, bad: dict[int, str]) -> Path:
    rows = [f"imported comment {i},{bad.get(i, 'ham')}" for i in range(n)]
    path.write_text("text,label\n" + "\n".join(rows) + "\n")
    return path


def test_import_shows_progress_then_the_bad_rows(
    live: LiveServer, page: Any, tmp_path: Path
) -> None:
    w = live.world
    log_in(page, live.url, "admin", PASSWORD)
    page.goto(f"{live.url}/p/{w.a.id}/dashboard")
    page.fill("#import-form input[name=label_column]", "label")
    page.set_input_files(
        "#import-form input[name=file]", str(_csv(tmp_path / "big.csv", 60_000, {}))
    )
    page.click("#import-form button[type=submit]")
    page.wait_for_selector("#import-bar")  # the progress bar, polled while it runs
    running = page.locator("#import-rows").count() == 1
    page.wait_for_selector("#import-done", timeout=120_000)
    assert "Imported 60000 item(s)" in page.inner_text("#import-done")
    assert page.get_attribute("#import-bar", "value") == "100"
    assert running, "the first answer showed no progress (the import ended first)"

    before = w.store.browse_count(w.a.id, _all())
    page.set_input_files(
        "#import-form input[name=file]",
        str(_csv(tmp_path / "bad.csv", 20_000, {4: "eggs", 15_000: "<i>bacon</i>"})),
    )
    page.click("#import-form button[type=submit]")
    page.wait_for_selector("#import-failed", timeout=120_000)
    assert "Nothing was imported from bad.csv: 2 problems" in page.inner_text("#import-failed")
    cells = [
        [c.inner_text() for c in r.locator("td").all()]
        for r in page.locator("#import-problems tbody tr").all()
    ]
    assert [(c[0], c[1]) for c in cells] == [("6", "label"), ("15002", "label")]
    assert "eggs" in cells[0][2] and "<i>bacon</i>" in cells[1][2]  # text, not markup
    assert all(c[3] for c in cells)  # how to fix it
    shot(page, "43-import-bad-rows")
    assert w.store.browse_count(w.a.id, _all()) == before  # nothing imported
    assert not page.js_errors
