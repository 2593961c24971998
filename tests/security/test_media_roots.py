"""Item images are served only from inside the project's media roots."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sec_world import bearer
from server_world import World, png

from labelloop.core.records import ItemRecord
from labelloop.errors import ImportValidationError
from labelloop.services.project import Project


def _image(client: TestClient, world: World, item_id: int) -> int:
    r = client.get(f"/api/v1/projects/{world.b.id}/items/{item_id}/image",
                   headers=bearer(world, "admin"))
    return r.status_code


def _add(world: World, image: str) -> int:
    """Store an item directly (as an older version of labelloop could have)."""
    res = world.store.import_records(world.b.id, [ItemRecord(data={"image": image},
                                                             width=320, height=240)])
    return res.item_ids[0]


def test_images_outside_the_media_roots_are_not_served(client: TestClient, world: World,
                                                       tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = png(outside / "secret.png")
    (world.media / "escape.png").symlink_to(secret)
    assert _image(client, world, world.b_items[0]) == 200  # relative, inside: served
    assert _image(client, world, _add(world, str(world.media / "img1.png"))) == 200
    for image in (str(secret), "../outside/secret.png", "escape.png",
                  f"{world.media}/../outside/secret.png"):
        assert _image(client, world, _add(world, image)) == 404, image
    # an admin lists the folder as a media root: now it is served
    r = client.patch(f"/api/v1/projects/{world.b.id}/settings",
                     headers=bearer(world, "admin"), json={"media_roots": [str(outside)]})
    assert r.status_code == 200 and r.json()["settings"]["media_roots"] == [str(outside)]
    assert _image(client, world, _add(world, str(secret) + "?")) == 404  # no such file
    assert _image(client, world, _add(world, f"{world.media}/../outside/secret.png")) == 200
    r = client.patch(f"/api/v1/projects/{world.b.id}/settings",
                     headers=bearer(world, "admin"), json={"media_roots": ["relative/dir"]})
    assert r.status_code == 422 and "absolute" in r.json()["error"]["message"]


def test_uploads_naming_images_outside_the_roots_are_refused(client: TestClient,
                                                             world: World,
                                                             tmp_path: Path) -> None:
    before = world.store.count_items(world.b.id)
    rows = "image\nimg0.png\n/etc/passwd.png\n"
    r = client.post(f"/api/v1/projects/{world.b.id}/import", headers=bearer(world, "admin"),
                    files={"file": ("rows.csv", rows.encode())})
    assert r.status_code == 422
    err = r.json()["error"]
    assert "row 2" in err["message"] and "/etc/passwd.png" in err["message"]
    assert "media roots" in err["message"]
    assert world.store.count_items(world.b.id) == before


def test_cli_imports_trust_the_file_folder_only(world: World, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    png(data / "a.png")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    png(elsewhere / "b.png")
    good = data / "good.csv"
    good.write_text(f"image\n{data / 'a.png'}\n", encoding="utf-8")
    bad = data / "bad.csv"
    bad.write_text(f"image\n{data / 'a.png'}\n{elsewhere / 'b.png'}\n", encoding="utf-8")
    project = Project(world.store, world.b, world.media)
    with pytest.raises(ImportValidationError, match=r"row 2: image .*b\.png"):
        project.import_file(bad)
    assert project.import_file(good).added == 1
    assert str(data.resolve()) in world.store.project(world.b.id).media_roots
