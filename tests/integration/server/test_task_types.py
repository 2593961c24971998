"""Multi-label text and image classification through the API and pages."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from server_world import SECRET, cheap_users, login, png

from labelloop.core.records import ItemRecord
from labelloop.core.schema import LabelSchema
from labelloop.server import create_app
from labelloop.storage import Store


def test_multi_label_and_image_tasks(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    multi = store.create_project("topics", LabelSchema.from_labels(
        "multi-label-text", ["sport", "politics", "tech"]))
    store.import_records(multi.id, [ItemRecord(data={"text": "chips and elections"})])
    media = tmp_path / "media"
    media.mkdir()
    png(media / "a.png")
    images = store.create_project("scenes", LabelSchema.from_labels(
        "image-classification", ["indoor", "outdoor"]))
    store.import_records(images.id, [
        ItemRecord(data={"image": "a.png"}, width=320, height=240),
        ItemRecord(data={"image": "../../etc/passwd.png"}, width=1, height=1)])
    users = cheap_users(store)
    users.add("ann", "annotator", "password1234")
    client = TestClient(create_app(store, secret=SECRET, media_root=media, users=users))
    csrf = login(client, "ann", "password1234")
    h = {"X-CSRF-Token": csrf}
    page = client.get(f"/p/{multi.id}/label")
    assert "Labels (toggle)" in page.text and "chips and elections" in page.text
    task = client.post(f"/api/v1/projects/{multi.id}/queue/next", headers=h).json()["task"]
    url = f"/api/v1/projects/{multi.id}/items/{task['item']['id']}/annotation"
    bad = client.put(url, headers=h, json={"label": "tech"})
    assert bad.status_code == 422 and "'labels'" in bad.json()["error"]["message"]
    ok = client.put(url, headers=h, json={"labels": ["tech", "politics", "tech"]})
    assert ok.json()["answer"]["labels"] == ["politics", "tech"]

    page = client.get(f"/p/{images.id}/label")
    assert 'class="item-image"' in page.text
    first = client.post(f"/api/v1/projects/{images.id}/queue/next", headers=h).json()["task"]
    assert client.get(first["item"]["image_url"]).status_code == 200
    client.put(f"/api/v1/projects/{images.id}/items/{first['item']['id']}/annotation",
               headers=h, json={"label": "indoor"})
    evil = client.post(f"/api/v1/projects/{images.id}/queue/next", headers=h).json()["task"]
    r = client.get(evil["item"]["image_url"])
    assert r.status_code == 404 and "outside the media roots" in r.json()["error"]["message"]
    store.close()
