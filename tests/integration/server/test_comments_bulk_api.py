"""Comments on items and the browser's bulk send-to-review and delete, through the API,
the client and the pages: who reads which comment, escaping, the length limit, roles,
the delete confirmation."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from server_world import OTHER, XSS, World, login

from labelloop import Client
from labelloop.errors import NotFoundError, PermissionDeniedError, ValidationError
from labelloop.services.comments import COMMENT_MAX


def _client(client: TestClient, world: World, name: str) -> Client:
    return Client("http://testserver", token=world.tokens[name], http=client)


def test_comments_are_read_by_reviewers_and_their_author_only(
    client: TestClient, world: World
) -> None:
    pid = world.a.id
    ann, other = _client(client, world, "annotator"), _client(client, world, OTHER)
    rev = _client(client, world, "reviewer")
    item = ann.next_task(pid)["item"]["id"]  # type: ignore[index]
    assert other.next_task(pid)["item"]["id"] == item  # type: ignore[index]  # overlap 2
    mine = ann.comment(pid, item, XSS)
    assert (mine["author"], mine["text"]) == ("annotator", XSS)
    other.comment(pid, item, "my own doubt")
    assert [c["text"] for c in other.comments(pid, item)] == ["my own doubt"]
    assert [c["text"] for c in rev.comments(pid, item)] == [XSS, "my own doubt"]
    rev.comment(pid, item, "it is spam", reply_to=world.ids["annotator"])
    assert [c["text"] for c in ann.comments(pid, item)] == [XSS, "it is spam"]
    assert [c["text"] for c in other.comments(pid, item)] == ["my own doubt"]
    with pytest.raises(ValidationError, match=f"at most {COMMENT_MAX:,} characters"):
        ann.comment(pid, item, "x" * (COMMENT_MAX + 1))
    with pytest.raises(PermissionDeniedError):
        ann.comment(pid, item, "hey", reply_to=world.ids[OTHER])
    with pytest.raises(NotFoundError):  # an item the annotator neither holds nor answered
        ann.comments(pid, world.a_items[-1])
    login(client, "reviewer")
    page = client.get(f"/p/{pid}/review/{item}")
    assert XSS not in page.text and "&lt;script&gt;window.__pwned" in page.text
    assert "it is spam" in page.text and 'id="comment-form"' in page.text
    listed = client.get(f"/p/{pid}/items", params={"has_comments": "true"})
    assert re.findall(r'name="ids" value="(\d+)"', listed.text) == [str(item)]
    assert rev.browse(pid, has_comments="true")["items"][0]["comments"] == 3


def test_the_label_page_form_adds_a_comment_or_says_why_not(
    client: TestClient, world: World
) -> None:
    pid = world.a.id
    csrf = login(client, "annotator")
    page = client.get(f"/p/{pid}/label")
    item = int(re.search(r'data-item="(\d+)"', page.text).group(1))  # type: ignore[union-attr]
    assert 'id="comment-form"' in page.text and "No comments yet." in page.text
    url = f"/p/{pid}/items/{item}/comments"
    r = client.post(
        url,
        data={"csrf_token": csrf, "text": "is <i>this</i> spam?"},
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 200 and "is &lt;i&gt;this&lt;/i&gt; spam?" in r.text
    long = "y" * (COMMENT_MAX + 5)
    r = client.post(url, data={"csrf_token": csrf, "text": long}, headers={"HX-Request": "true"})
    assert r.status_code == 422 and f"at most {COMMENT_MAX:,} characters" in r.text
    assert long in r.text  # the text as typed, to shorten
    assert (
        client.post(
            f"/p/{pid}/items/{world.a_items[-1]}/comments", data={"csrf_token": csrf, "text": "x"}
        ).status_code
        == 404
    )


def test_bulk_send_to_review_and_delete(client: TestClient, world: World) -> None:
    pid = world.a.id
    rev, admin = _client(client, world, "reviewer"), _client(client, world, "admin")
    picked = world.a_items[1:4]
    res = rev.bulk(pid, "send_to_review", ids=picked)
    assert (res["matched"], res["changed"]) == (3, 3)
    waiting = rev.review_queue(pid, reason="requested")
    assert [e["item"]["id"] for e in waiting] == picked
    assert all("requested" in e["reasons"] for e in waiting)
    with pytest.raises(PermissionDeniedError):
        rev.bulk(pid, "delete", ids=picked)
    res = admin.bulk(pid, "delete", search="number")
    assert res["matched"] == len(world.a_items) - 1  # the XSS item has no "number"
    left = [it["id"] for it in admin.browse_all(pid)]
    assert left == [world.a_items[-1], world.honeypot]
    assert rev.review_queue(pid, reason="requested") == []


def test_the_page_asks_before_deleting(client: TestClient, world: World) -> None:
    pid = world.a.id
    csrf = login(client, "reviewer")
    assert "Send to review" in client.get(f"/p/{pid}/items").text
    assert 'value="delete"' not in client.get(f"/p/{pid}/items").text  # admins only
    csrf = login(client, "admin")
    form = {
        "csrf_token": csrf,
        "action": "delete",
        "scope": "filter",
        "filter": "search=number",
        "back": "search=number",
    }
    ask = client.post(f"/p/{pid}/items/bulk", data=form, follow_redirects=False)
    assert ask.status_code == 200 and "Delete 5 items?" in ask.text
    assert len(list(_client(client, world, "admin").browse_all(pid))) == 7  # not yet
    done = client.post(
        f"/p/{pid}/items/bulk", data={**form, "confirm": "yes"}, follow_redirects=False
    )
    assert done.status_code == 303 and "done=delete" in done.headers["location"]
    assert "Deleted 5 items." in client.get(done.headers["location"]).text
    assert len(list(_client(client, world, "admin").browse_all(pid))) == 2
