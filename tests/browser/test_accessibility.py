"""Accessibility in chromium: axe-core finds no serious or critical violation on any page a
team uses, as each role sees it; every control on those pages is reached with Tab (no
positive tabindex), and the labeling actions work from the keyboard alone.

axe-core is the npm package's ``axe.min.js``, vendored under ``vendor/axe-core`` (its README
names the version and how to update it). It is evaluated in the page through the DevTools
protocol, so the pages keep their Content-Security-Policy while they are checked.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_kit import LiveServer, log_in
from server_world import PASSWORD
from span_world import SpanWorld, add_span_project

from labelloop.core.records import ItemRecord
from labelloop.core.schema import LabelSchema

pytestmark = pytest.mark.browser

AXE_JS = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
FAILING = ("serious", "critical")
INSTRUCTIONS = "## How to label\n\nPick **spam** for links and requests to subscribe."

# Swagger UI (/api/v1/docs) is third-party markup from the fastapi-offline package: its
# method badges and version stamps are white on light green/blue (color-contrast), and each
# operation's summary is a button that holds the copy and lock buttons (nested-interactive).
# Neither is ours to change; both rules stay on for every page of our own.
SWAGGER_OWN_RULES = ("color-contrast", "nested-interactive")

_RUN = """async ([disabled]) => {
  const rules = Object.fromEntries(disabled.map(id => [id, {enabled: false}]));
  const r = await axe.run(document, {rules, resultTypes: ['violations']});
  return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, url: v.helpUrl,
    targets: v.nodes.map(n => n.target.join(' '))}));
}"""

# Controls a keyboard user must reach: visible and enabled; native ones not taken out of the
# tab order on purpose (tabindex=-1), and every element with a widget role.
_CONTROLS = """() => {
  const roles = ['button', 'link', 'checkbox', 'radio', 'switch', 'tab', 'menuitem', 'option',
    'slider', 'textbox', 'combobox'].map(r => '[role=' + r + ']').join(', ');
  const sel = 'a[href], button, input:not([type=hidden]), select, textarea, summary, ' +
    '[tabindex], [contenteditable=true], ' + roles;
  const all = Array.from(document.querySelectorAll(sel));
  const positive = all.filter(e => e.tabIndex > 0).map(e => e.outerHTML.slice(0, 120));
  const shown = all.filter(e => !e.disabled && (e.tabIndex >= 0 || e.matches(roles))
    && e.getClientRects().length > 0
    && getComputedStyle(e).visibility !== 'hidden'
    && !e.closest('[inert], details:not([open]) > :not(summary)'));
  const want = [], radios = {};
  shown.forEach((e, i) => {
    e.dataset.a11yN = String(i);
    const text = (e.textContent || e.value || '').trim().slice(0, 30);
    const what = e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
      (e.name ? '[name=' + e.name + ']' : '') + ' "' + text + '"';
    if (e.type === 'radio') (radios[e.name] = radios[e.name] || []).push([String(i), what]);
    else want.push([String(i), what]);
  });
  return {want, radios: Object.values(radios), positive};
}"""


def axe_violations(page: Any, *, disabled: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Run axe-core on the page as it is now; every violation, whatever its impact."""
    page.wait_for_load_state("networkidle")
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE_JS.read_text(encoding="utf-8"))
    result: list[dict[str, Any]] = page.evaluate(_RUN, [list(disabled)])
    return result


def serious(violations: list[dict[str, Any]]) -> list[str]:
    """One line per serious or critical violation: rule, impact, targets and help URL."""
    return [
        f"{v['id']} ({v['impact']}): {v['help']}; targets {v['targets'][:8]}; {v['url']}"
        for v in violations
        if v["impact"] in FAILING
    ]


class Audit:
    """Visit pages, run axe on each; the failures of every page, to assert on at the end."""

    def __init__(self, page: Any, url: str) -> None:
        self.page, self.url = page, url
        self.failures: dict[str, list[str]] = {}

    def check(self, name: str, *, disabled: tuple[str, ...] = ()) -> None:
        """Check the page as it is now, under ``name``."""
        found = serious(axe_violations(self.page, disabled=disabled))
        if found:
            self.failures[name] = found

    def visit(self, name: str, path: str) -> None:
        self.page.goto(self.url + path)
        self.check(name)

    def report(self) -> str:
        return "\n".join(
            f"{page}:\n  " + "\n  ".join(lines) for page, lines in self.failures.items()
        )


@pytest.fixture
def spans(live: LiveServer) -> SpanWorld:
    """The span project, and instructions on the text project (the side panel opens)."""
    w = live.world
    settings = w.store.project(w.a.id).settings
    w.store.update_settings(w.a.id, settings.model_copy(update={"instructions": INSTRUCTIONS}))
    return add_span_project(w.store)


def test_no_serious_violation_before_log_in(live: LiveServer, page: Any) -> None:
    audit = Audit(page, live.url)
    audit.visit("login", "/login")
    page.fill("input[name=name]", "annotator")
    page.fill("input[name=password]", "wrong password")
    page.click("button[type=submit]")
    page.wait_for_selector("[role=alert]")
    audit.check("login, wrong password")
    audit.visit("login, session expired", "/login?error=expired&next=/")
    assert audit.failures == {}, audit.report()


def _pictures(w: Any) -> int:
    """An image classification project with one image; its id."""
    pics = w.store.create_project(
        "pics",
        LabelSchema.parse(
            {"task": "image-classification", "classes": {"red": "Red", "blue": "Blue"}}
        ),
    )
    w.store.import_records(pics.id, [ItemRecord(data={"image": "img0.png"}, width=320, height=240)])
    return int(pics.id)


def test_no_serious_violation_for_an_annotator(
    live: LiveServer, page: Any, spans: SpanWorld
) -> None:
    w = live.world
    empty = w.store.create_project(
        "empty", LabelSchema.parse({"task": "text-classification", "classes": ["a", "b"]})
    )
    pics = _pictures(w)
    log_in(page, live.url, "annotator", PASSWORD)
    audit = Audit(page, live.url)
    audit.visit("home", "/")
    audit.visit("label text, instructions open", f"/p/{w.a.id}/label")
    assert page.is_visible("#instructions-panel .instructions")
    page.keyboard.press("2")
    page.keyboard.press("u")  # nothing to undo yet: a warning in the status line
    page.wait_for_selector("#status.warn")
    audit.check("label text, class chosen, status shown")
    item = _item(page)
    page.keyboard.press("s")  # skipped: the next item
    _wait_next(page, item)
    page.keyboard.press("Enter")  # no class: an error in the status line
    page.wait_for_selector("#status.bad")
    audit.check("label text, error shown")
    audit.visit("label boxes (suggested box)", f"/p/{w.b.id}/label")
    page.wait_for_selector("#box-canvas[data-ready='1']")
    page.click(".region-pick")  # the suggested box, selected from the list
    audit.check("label boxes, box selected")
    audit.visit("label spans", f"/p/{spans.project.id}/label")
    page.wait_for_selector("#span-text[data-ready='1']")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("1")
    audit.check("label spans, span made")
    page.check("#hide-suggestion")
    audit.check("label spans, blind")
    audit.visit("label an image (classification)", f"/p/{pics}/label")
    page.wait_for_selector(".zoom-frame[data-ready='1']")
    audit.check("label an image, zoom tools shown")
    audit.visit("nothing left to label", f"/p/{empty.id}/label")
    audit.visit("error page", "/p/999999/label")
    assert "Error 404" in page.inner_text("main")
    audit.visit("account", "/account")
    page.fill("input[name=name]", "laptop")
    page.click("form[action='/account/tokens'] button[type=submit]")
    page.wait_for_selector("#new-token")
    audit.check("account, token created")
    assert audit.failures == {}, audit.report()


def test_no_serious_violation_for_a_reviewer(live: LiveServer, page: Any, spans: SpanWorld) -> None:
    w = live.world
    log_in(page, live.url, "reviewer", PASSWORD)
    audit = Audit(page, live.url)
    audit.visit("home", "/")
    audit.visit("review queue", f"/p/{w.a.id}/review")
    audit.visit("review queue, a tab", f"/p/{w.a.id}/review?reason=needs_review")
    audit.visit("item detail, text", f"/p/{w.a.id}/review/{w.a_items[0]}")
    audit.visit("item detail, boxes", f"/p/{w.b.id}/review/{w.b_items[0]}")
    page.wait_for_selector("#box-canvas[data-ready='1']")
    audit.check("item detail, boxes drawn")
    audit.visit("item detail, spans", f"/p/{spans.project.id}/review/{spans.items[0]}")
    audit.visit("dashboard", f"/p/{w.a.id}/dashboard")
    audit.visit("data browser", f"/p/{w.a.id}/items")
    page.check("input.row-check >> nth=0")
    page.click("#bulk-apply")
    page.wait_for_selector("#bulk-report")
    audit.check("data browser, bulk report")
    audit.visit("data browser, images", f"/p/{w.b.id}/items")
    assert audit.failures == {}, audit.report()


def test_no_serious_violation_for_an_admin(live: LiveServer, page: Any, spans: SpanWorld) -> None:
    w = live.world
    log_in(page, live.url, "admin", PASSWORD)
    audit = Audit(page, live.url)
    audit.visit("home, project creation", "/")
    page.fill("#new-project-form input[name=name]", "comments")  # taken: refused inline
    page.fill("#new-project-form textarea[name=classes]", "fine\ntoxic")
    page.click("#new-project-form button[type=submit]")
    page.wait_for_selector("#create-error")
    audit.check("project creation, error")
    audit.visit("dashboard, project settings", f"/p/{w.a.id}/dashboard")
    page.fill("input[name=claim_minutes]", "")
    page.click("form[hx-post$='/settings'] button[type=submit]")
    page.wait_for_selector("#settings-result [role=alert]")
    page.click("#classes-form button[type=submit]")
    page.wait_for_selector("#classes-card .alert.good")
    page.click("#instructions-form button[type=submit]")
    page.wait_for_selector("#instructions-card .alert.good")
    page.click("#instructions-card summary")  # the preview
    audit.check("dashboard, settings error, classes and instructions saved")
    page.fill("input[name=claim_minutes]", "30")
    page.click("form[hx-post$='/settings'] button[type=submit]")
    page.wait_for_selector("#settings-result .alert.good")
    audit.check("dashboard, settings saved")
    audit.visit("dashboard, box project", f"/p/{w.b.id}/dashboard")
    audit.visit("users", "/admin/users")
    page.fill("input[name=name]", "newcomer")
    page.click("form[action='/admin/users'] button[type=submit]")
    page.wait_for_selector("#new-password")
    audit.check("users, user created")
    page.fill("input[name=name]", "annotator")
    page.click("form[action='/admin/users'] button[type=submit]")
    page.wait_for_selector("#add-user-error")
    audit.check("users, duplicate refused")
    audit.visit("account", "/account")
    audit.visit("data browser", f"/p/{spans.project.id}/items")
    audit.visit("item detail", f"/p/{w.a.id}/review/{w.a_items[-1]}")
    audit.visit("label text", f"/p/{w.a.id}/label")
    # the API reference: Swagger UI's own markup breaks two rules (see SWAGGER_OWN_RULES)
    page.goto(f"{live.url}/api/v1/docs")
    page.wait_for_selector(".opblock-summary-path")
    audit.check("API reference (Swagger UI)", disabled=SWAGGER_OWN_RULES)
    page.click(".opblock-summary-control >> nth=0")  # an operation, open
    page.wait_for_selector(".opblock-body")
    audit.check("API reference, an operation open", disabled=SWAGGER_OWN_RULES)
    assert audit.failures == {}, audit.report()


def test_serious_violations_are_reported_with_rule_target_and_help(
    live: LiveServer, page: Any
) -> None:
    """The check can fail: a button with no name and grey-on-grey text are caught."""
    page.goto(f"{live.url}/login")
    page.evaluate("""() => {
      const b = document.createElement('button'); b.id = 'nameless';
      document.querySelector('main').appendChild(b);
      const p = document.createElement('p'); p.id = 'faint'; p.textContent = 'faint';
      p.style.color = '#ccc'; document.querySelector('main').appendChild(p);
    }""")
    lines = serious(axe_violations(page))
    assert any(
        s.startswith("button-name (critical)")
        and "#nameless" in s
        and "dequeuniversity.com/rules/axe/" in s
        for s in lines
    ), lines


# -- keyboard -----------------------------------------------------------------------------


def tab_through(page: Any) -> tuple[list[str], list[str]]:
    """Press Tab through the page; the controls never reached and any positive tabindex."""
    found = page.evaluate(_CONTROLS)
    want = {n: what for n, what in found["want"]}
    groups = found["radios"]
    page.evaluate(
        "() => { document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); }"
    )
    page.focus("body")
    reached: set[str] = set()
    last, same = None, 0
    for _ in range(len(want) + len(groups) + 10):
        page.keyboard.press("Tab")
        n = page.evaluate(
            "document.activeElement && document.activeElement.dataset "
            "? document.activeElement.dataset.a11yN || '' : ''"
        )
        same = same + 1 if n == last else 0
        assert same < 3, f"focus stays on {want.get(n, n)}: a keyboard trap"
        last = n
        reached.add(n)
    missed = [what for n, what in want.items() if n not in reached]
    missed += [group[0][1] for group in groups if not reached & {n for n, _ in group}]
    return missed, found["positive"]


def _pages(w: Any, spans: SpanWorld) -> Iterator[tuple[str, list[str]]]:
    a, b, s, pics = w.a.id, w.b.id, spans.project.id, _pictures(w)
    yield (
        "annotator",
        ["/", f"/p/{a}/label", f"/p/{b}/label", f"/p/{s}/label", f"/p/{pics}/label", "/account"],
    )
    yield (
        "reviewer",
        [
            f"/p/{a}/review",
            f"/p/{a}/review/{w.a_items[0]}",
            f"/p/{b}/review/{w.b_items[0]}",
            f"/p/{s}/review/{spans.items[0]}",
            f"/p/{a}/items",
        ],
    )
    yield "admin", ["/", f"/p/{a}/dashboard", f"/p/{b}/items", "/admin/users"]


def test_every_control_is_reached_with_tab(
    live: LiveServer, browser: Any, spans: SpanWorld
) -> None:
    problems: dict[str, Any] = {}
    for role, paths in _pages(live.world, spans):
        ctx = browser.new_context(viewport={"width": 1280, "height": 860})
        page = ctx.new_page()
        try:
            log_in(page, live.url, role, PASSWORD)
            for path in paths:
                page.goto(live.url + path)
                page.wait_for_load_state("networkidle")
                missed, positive = tab_through(page)
                if missed or positive:
                    problems[f"{role} {path}"] = {
                        "not reached": missed,
                        "positive tabindex": positive,
                    }
        finally:
            ctx.close()
    assert problems == {}


def test_the_tab_walk_finds_unreachable_controls_and_positive_tabindex(
    live: LiveServer, page: Any
) -> None:
    page.goto(f"{live.url}/login")
    page.evaluate("""() => {
      const main = document.querySelector('main');
      const fake = document.createElement('div'); fake.setAttribute('role', 'button');
      fake.id = 'fake'; fake.textContent = 'a div that acts as a button';
      const jump = document.createElement('button'); jump.tabIndex = 3; jump.textContent = 'first';
      main.append(fake, jump);
    }""")
    missed, positive = tab_through(page)
    assert missed == ['div#fake "a div that acts as a button"']
    assert len(positive) == 1 and "first" in positive[0]


def _stored(live: LiveServer, project: int, name: str) -> dict[int, Any]:
    w = live.world
    src = [s for s in w.store.sources(project, kinds=["human"]) if s.name == name]
    if not src:
        return {}
    return {x.item_id: x for x in w.store.annotations(project, source_ids=[src[0].id])}


def _wait_next(page: Any, item: int) -> None:
    page.wait_for_selector(f".item-card:not([data-item='{item}']), h1:has-text('Nothing left')")


def _item(page: Any) -> int:
    return int(page.get_attribute(".item-card", "data-item"))


def _focus_ring(page: Any, selector: str) -> bool:
    """Whether the focused element shows where the focus is (an outline or a ring)."""
    style = page.eval_on_selector(
        selector, "e => { const s = getComputedStyle(e); return [s.outlineStyle, s.boxShadow]; }"
    )
    return bool(style[0] != "none" or style[1] != "none")


def _press_on(page: Any, selector: str, key: str) -> None:
    page.focus(selector)
    page.keyboard.press(key)


def test_the_first_tab_stop_skips_to_the_content(live: LiveServer, page: Any) -> None:
    w = live.world
    log_in(page, live.url, "annotator", PASSWORD)
    page.goto(f"{live.url}/p/{w.a.id}/label")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to the content"
    assert page.is_visible(".skip-link") and page.evaluate(
        "document.querySelector('.skip-link').getBoundingClientRect().top >= 0"
    )
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")  # the first control of the page after the top bar
    assert page.evaluate("document.activeElement.id") == "hide-suggestion"


def test_text_labeling_by_keyboard(live: LiveServer, page: Any) -> None:
    """Keys 1-9 and Enter; on a focused button Enter and Space press that button."""
    w = live.world
    log_in(page, live.url, "annotator", PASSWORD)
    page.goto(f"{live.url}/p/{w.a.id}/label")
    first = _item(page)
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    _wait_next(page, first)
    assert _stored(live, w.a.id, "annotator")[first].label == 1
    second = _item(page)
    _press_on(page, ".class-btn[data-index='0']", "Enter")  # picks the class, sends nothing
    assert page.get_attribute(".class-btn[data-index='0']", "aria-pressed") == "true"
    assert page.evaluate("document.activeElement.dataset.index") == "0"  # focus stays
    assert second not in _stored(live, w.a.id, "annotator")
    _press_on(page, "#skip-btn", "Enter")  # skips, does not submit the chosen class
    _wait_next(page, second)
    assert second not in _stored(live, w.a.id, "annotator")
    third = _item(page)
    _press_on(page, ".class-btn[data-index='1']", " ")
    _press_on(page, "#submit-btn", "Enter")
    _wait_next(page, third)
    assert _stored(live, w.a.id, "annotator")[third].label == 1


def test_boxes_by_keyboard(live: LiveServer, page: Any) -> None:
    """N adds a box in the middle of the view with the current class; the arrows move and
    resize it, the list of boxes relabels and deletes, Enter submits."""
    w = live.world
    log_in(page, live.url, "annotator", PASSWORD)
    page.goto(f"{live.url}/p/{w.b.id}/label")
    page.wait_for_selector("#box-canvas[data-ready='1']")
    item = _item(page)
    page.focus("#box-canvas")
    assert _focus_ring(page, "#box-canvas")
    page.keyboard.press("2")  # class "blue"
    page.keyboard.press("n")
    assert page.get_attribute("#box-canvas", "data-boxes") == "2"  # the suggested one + new
    for key in ("Shift+ArrowRight", "ArrowDown", "Control+ArrowRight"):
        page.keyboard.press(key)
    page.keyboard.press("Escape")
    # the suggested box: chosen from the list, relabelled with its select, then removed
    page.focus("li.region[data-index='0'] .region-class")
    page.keyboard.press("ArrowDown")  # "red" -> "blue"
    assert page.input_value("li.region[data-index='0'] .region-class") == "blue"
    _press_on(page, "li.region[data-index='0'] .region-del", "Enter")
    assert page.get_attribute("#box-canvas", "data-boxes") == "1"
    page.focus("#box-canvas")
    page.keyboard.press("Enter")
    _wait_next(page, item)
    boxes = _stored(live, w.b.id, "annotator")[item].boxes
    assert [b.label for b in boxes] == ["blue"]
    # half the view's width and height, around its middle (160, 120); then moved 10 px
    # right and 1 down, and made 1 px wider
    assert (boxes[0].x, boxes[0].y, boxes[0].w, boxes[0].h) == pytest.approx(
        (90, 61, 161, 120), abs=0.5
    )


def test_spans_by_keyboard(live: LiveServer, page: Any, spans: SpanWorld) -> None:
    log_in(page, live.url, "annotator", PASSWORD)
    page.goto(f"{live.url}/p/{spans.project.id}/label")
    page.wait_for_selector("#span-text[data-ready='1']")
    item = _item(page)
    page.focus("#span-text")
    assert _focus_ring(page, "#span-text")
    page.keyboard.press("ArrowRight")  # "Ada"
    page.keyboard.press("Shift+ArrowRight")  # "Ada Lovelace"
    said = page.locator("#span-text-said")  # a live region: what a screen reader says
    assert said.inner_text() == "Selected: Ada Lovelace"
    page.keyboard.press("1")  # PER
    assert said.inner_text() == "Ada Lovelace: PER"
    page.keyboard.press("Enter")
    _wait_next(page, item)
    got = _stored(live, spans.project.id, "annotator")[item].spans
    assert [(s.start, s.end, s.label) for s in got] == [(0, 12, "PER")]


def test_review_and_bulk_actions_by_keyboard(live: LiveServer, page: Any) -> None:
    w = live.world
    log_in(page, live.url, "reviewer", PASSWORD)
    item = w.a_items[0]
    page.goto(f"{live.url}/p/{w.a.id}/review/{item}")
    _press_on(page, "#correct-form input[value=ham]", " ")
    _press_on(page, "#correct-form button[type=submit]", "Enter")
    page.wait_for_url(f"{live.url}/p/{w.a.id}/review*")
    gold = [s for s in w.store.sources(w.a.id, kinds=["gold"]) if s.name == "review:reviewer"]
    assert {a.item_id: a.label for a in w.store.annotations(w.a.id, source_ids=[gold[0].id])}[
        item
    ] == 0
    page.goto(f"{live.url}/p/{w.a.id}/items")
    _press_on(page, "input.row-check >> nth=0", " ")
    page.focus("#bulk-action")
    page.keyboard.press("ArrowDown")  # "Set split"
    page.focus("#bulk-form select[name=split]")
    page.keyboard.press("ArrowDown")  # "train"
    _press_on(page, "#bulk-apply", "Enter")
    page.wait_for_selector("#bulk-report")
    assert "Moved 1 of 1 items" in page.inner_text("#bulk-report")


def test_the_dashboard_refresh_leaves_the_keyboard_focus_where_it_is(
    live: LiveServer, page: Any
) -> None:
    """#stats is swapped every 15 s; not while the focus is inside it."""
    w = live.world
    page.clock.install()
    log_in(page, live.url, "reviewer", PASSWORD)
    page.goto(f"{live.url}/p/{w.a.id}/dashboard")
    page.wait_for_load_state("networkidle")
    page.evaluate(
        """() => {
      window.__polls = [];  // each refresh of #stats: held back or not
      document.addEventListener('htmx:beforeRequest', e => {
        if (e.detail.elt.id === 'stats') window.__polls.push(e.defaultPrevented ? 'held' : 'sent');
      });
      const b = document.createElement('button'); b.id = 'probe'; b.textContent = 'probe';
      document.querySelector('#stats section').append(b);
    }"""
    )
    page.focus("#probe")
    page.clock.run_for(16_000)
    assert page.evaluate("window.__polls") == ["held"]
    assert page.evaluate("document.activeElement.id") == "probe"
    page.evaluate("document.activeElement.blur()")
    page.clock.run_for(16_000)
    assert page.evaluate("window.__polls") == ["held", "sent"]
    page.wait_for_selector("#probe", state="detached")  # swapped: fresh numbers
