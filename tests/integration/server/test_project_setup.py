"""Project setup from the UI: create a project on Home, edit classes and instructions on
the dashboard (admins only), instructions on the label page, rendered safely."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from server_world import XSS, World, login

from labelloop.core.schema import INSTRUCTIONS_MAX

SCRIPT = "<script>window.__pwned = 1</script>"


def _form(client: TestClient, csrf: str, path: str, data: dict[str, object]):  # type: ignore[no-untyped-def]
    return client.post(path, data={**data, "csrf_token": csrf}, follow_redirects=False)


def _classes_form(world: World, project_id: int | None = None) -> dict[str, list[str]]:
    info = world.store.project(project_id or world.a.id)
    return {"old": info.schema.names, "name": info.schema.names,
            "description": [c.description for c in info.schema.classes],
            "color": [c.color for c in info.schema.classes]}


# -- creating a project ------------------------------------------------------------------
def test_admin_creates_a_project_from_home(client: TestClient, world: World) -> None:
    csrf = login(client, "admin")
    assert 'id="new-project-form"' in client.get("/").text
    r = _form(client, csrf, "/projects", {
        "name": "reviews", "task": "text-classification",
        "classes": "pos: a happy review #2F9E44\n\nneg: an unhappy one\nneutral"})
    assert r.status_code == 303
    created = world.store.get_project("reviews")
    assert r.headers["location"] == f"/p/{created.id}/dashboard"
    assert created.schema.names == ["pos", "neg", "neutral"]
    assert created.schema.classes[0].description == "a happy review"
    assert created.schema.classes[0].color == "#2f9e44"
    page = client.get(f"/p/{created.id}/dashboard")
    assert page.status_code == 200 and 'value="#2f9e44"' in page.text


@pytest.mark.parametrize(("data", "message"), [
    ({"name": "comments", "task": "text-classification", "classes": "a\nb"},
     "a project named 'comments' already exists"),
    ({"name": "new", "task": "text-classification", "classes": " \n "},
     "give at least one class"),
    ({"name": "new", "task": "poetry", "classes": "a\nb"}, "poetry"),
    ({"name": "new", "task": "text-classification", "classes": "a\na"}, "repeated: a"),
    ({"name": "  ", "task": "text-classification", "classes": "a\nb"}, "give a project name"),
    ({"name": "new", "task": "text-classification", "classes": "a\n: orphan"},
     "line 2"),
])
def test_a_refused_project_shows_the_error_and_keeps_the_form(
        client: TestClient, world: World, data: dict[str, str], message: str) -> None:
    csrf = login(client, "admin")
    r = _form(client, csrf, "/projects", data)
    assert r.status_code in (409, 422)
    error = re.search(r'id="create-error">(.*?)</p>', r.text, re.S)
    assert error and message in error.group(1).replace("&#39;", "'")
    assert f'>{data["classes"]}</textarea>' in r.text  # what was typed is kept
    assert len(world.store.projects()) == 2


@pytest.mark.parametrize("who", ["annotator", "reviewer"])
def test_only_admins_create_projects(client: TestClient, world: World, who: str) -> None:
    csrf = login(client, who)
    assert 'id="new-project-form"' not in client.get("/").text
    r = _form(client, csrf, "/projects", {"name": "x", "task": "text-classification",
                                          "classes": "a\nb"})
    assert r.status_code == 403
    assert len(world.store.projects()) == 2


def test_class_names_and_descriptions_are_escaped(client: TestClient, world: World) -> None:
    csrf = login(client, "admin")
    r = _form(client, csrf, "/projects", {"name": SCRIPT, "task": "text-classification",
                                          "classes": f"{SCRIPT}: {XSS}\nok"})
    assert r.status_code == 303
    for path in ("/", r.headers["location"]):
        page = client.get(path).text
        assert SCRIPT not in page and "<img src=x" not in page
        assert "&lt;script&gt;window.__pwned" in page


# -- editing classes ---------------------------------------------------------------------
def test_descriptions_and_colours_change_and_classes_are_added(
        client: TestClient, world: World) -> None:
    csrf = login(client, "admin")
    form = _classes_form(world)
    form["description"] = ["Real comment", f"Ads {XSS}"]
    form["color"] = ["#1C7ED6", ""]
    r = _form(client, csrf, f"/p/{world.a.id}/classes", {**form, "added": "other: anything else"})
    assert r.status_code == 200 and "Saved: 3 classes" in r.text
    assert "<img src=x" not in r.text
    schema = world.store.project(world.a.id).schema
    assert [(c.name, c.description, c.color) for c in schema.classes] == [
        ("ham", "Real comment", "#1c7ed6"), ("spam", f"Ads {XSS}", ""),
        ("other", "anything else", "")]
    label = client.get(f"/p/{world.a.id}/label")
    assert 'data-color="#1c7ed6"' in label.text and "anything else" in label.text


def test_a_class_with_votes_keeps_its_name(client: TestClient, world: World) -> None:
    csrf = login(client, "admin")
    form = _classes_form(world)
    form["name"] = ["ham", "junk"]  # 'spam' has a gold and a model vote
    r = _form(client, csrf, f"/p/{world.a.id}/classes", form)
    assert r.status_code == 422
    assert "class &#39;spam&#39; has 2 vote(s), so it cannot be renamed" in r.text
    r = _form(client, csrf, f"/p/{world.a.id}/classes",
              {**_classes_form(world), "remove": ["spam"]})
    assert r.status_code == 422 and "cannot be removed" in r.text
    assert world.store.project(world.a.id).schema.names == ["ham", "spam"]


def test_a_class_before_a_voted_class_is_not_removed(client: TestClient, world: World) -> None:
    csrf = login(client, "admin")
    r = _form(client, csrf, f"/p/{world.a.id}/classes",
              {**_classes_form(world), "remove": ["ham"], "added": "eggs"})
    assert r.status_code == 422 and "would renumber &#39;spam&#39;" in r.text
    assert world.store.project(world.a.id).schema.names == ["ham", "spam"]


def test_an_unused_class_is_renamed_and_an_unused_box_class_removed(
        client: TestClient, world: World) -> None:
    csrf = login(client, "admin")
    form = _classes_form(world)
    form["name"] = ["genuine", "spam"]
    assert _form(client, csrf, f"/p/{world.a.id}/classes", form).status_code == 200
    assert world.store.project(world.a.id).schema.names == ["genuine", "spam"]
    # boxes name their class: 'red' has a box, 'blue' none and may go
    form = {**_classes_form(world, world.b.id), "remove": ["red"]}
    r = _form(client, csrf, f"/p/{world.b.id}/classes", form)
    assert r.status_code == 422 and "class &#39;red&#39; has 1 vote(s)" in r.text
    form = {**_classes_form(world, world.b.id), "remove": ["blue"]}
    assert _form(client, csrf, f"/p/{world.b.id}/classes", form).status_code == 200
    assert world.store.project(world.b.id).schema.names == ["red"]


def test_a_bad_colour_or_a_repeated_name_is_refused(client: TestClient, world: World) -> None:
    csrf = login(client, "admin")
    form = _classes_form(world)
    form["color"] = ["red", ""]
    r = _form(client, csrf, f"/p/{world.a.id}/classes", form)
    assert r.status_code == 422 and "classes.0.color" in r.text
    r = _form(client, csrf, f"/p/{world.a.id}/classes", {**_classes_form(world),
                                                          "added": "ham"})
    assert r.status_code == 422 and "repeated: ham" in r.text
    assert world.store.project(world.a.id).schema.classes == world.a.schema.classes


@pytest.mark.parametrize("who", ["annotator", "reviewer"])
def test_only_admins_edit_classes_and_instructions(client: TestClient, world: World,
                                                  who: str) -> None:
    csrf = login(client, who)
    form = _classes_form(world)
    form["description"] = ["x", "y"]
    assert _form(client, csrf, f"/p/{world.a.id}/classes", form).status_code == 403
    assert _form(client, csrf, f"/p/{world.a.id}/instructions",
                 {"instructions": "hi"}).status_code == 403
    info = world.store.project(world.a.id)
    assert info.schema == world.a.schema and info.settings.instructions == ""


# -- instructions ------------------------------------------------------------------------
MARKDOWN = f"""# Guide

Label **spam** when it [asks](https://example.org/rules) for clicks.

{SCRIPT} <img src=x onerror=alert(1)> [bad](javascript:alert(1)) <javascript:alert(2)>
"""


def test_instructions_are_saved_and_rendered_safely(client: TestClient, world: World) -> None:
    csrf = login(client, "admin")
    r = _form(client, csrf, f"/p/{world.a.id}/instructions", {"instructions": MARKDOWN})
    assert r.status_code == 200 and "Saved" in r.text
    assert world.store.project(world.a.id).settings.instructions == MARKDOWN
    login(client, "annotator")
    page = client.get(f"/p/{world.a.id}/label").text
    panel = re.search(r'<details class="instructions-panel".*?</details>', page, re.S)
    assert panel is not None
    html = panel.group(0)
    assert "<h1>Guide</h1>" in html and "<strong>spam</strong>" in html
    assert '<a href="https://example.org/rules" rel="noopener noreferrer nofollow"' in html
    assert "<script" not in html and "<img" not in html and "javascript:" not in html.replace(
        "[bad](javascript:alert(1))", "").replace("&lt;javascript:alert(2)&gt;", "")
    assert "&lt;script&gt;" in html
    assert SCRIPT not in page  # nor in the task's JSON


def test_no_instructions_no_panel_and_too_long_is_refused(client: TestClient,
                                                          world: World) -> None:
    csrf = login(client, "admin")
    assert 'id="instructions-panel"' not in client.get(f"/p/{world.a.id}/label").text
    r = _form(client, csrf, f"/p/{world.a.id}/instructions",
              {"instructions": "x" * (INSTRUCTIONS_MAX + 1)})
    assert r.status_code == 422 and "at most 50,000 characters" in r.text
    assert world.store.project(world.a.id).settings.instructions == ""


def test_settings_form_keeps_the_instructions(client: TestClient, world: World) -> None:
    csrf = login(client, "admin")
    _form(client, csrf, f"/p/{world.a.id}/instructions", {"instructions": "be kind"})
    r = _form(client, csrf, f"/p/{world.a.id}/settings", {
        "overlap": "1", "honeypot_rate": "0", "claim_minutes": "30", "review_threshold": "0.8"})
    assert r.status_code == 200
    assert world.store.project(world.a.id).settings.instructions == "be kind"


def test_the_api_sets_and_returns_the_instructions(client: TestClient, world: World) -> None:
    h = {"Authorization": f"Bearer {world.tokens['admin']}"}
    r = client.patch(f"/api/v1/projects/{world.a.id}/settings", headers=h,
                     json={"instructions": "# Read me"})
    assert r.status_code == 200 and r.json()["settings"]["instructions"] == "# Read me"
    ann = {"Authorization": f"Bearer {world.tokens['annotator']}"}
    got = client.get(f"/api/v1/projects/{world.a.id}", headers=ann).json()
    assert got["settings"]["instructions"] == "# Read me"
    assert got["classes"][0] == {"name": "ham", "description": "A genuine comment about the "
                                 "video.", "color": ""}
