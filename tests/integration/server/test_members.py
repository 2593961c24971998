"""Project membership: open to all until an admin admits someone, then members only."""

from __future__ import annotations

from fastapi.testclient import TestClient
from server_world import OTHER, World, login


def _get(client: TestClient, world: World, who: str, path: str) -> tuple[int, object]:
    r = client.get(f"/api/v1{path}", headers={"Authorization": f"Bearer {world.tokens[who]}"})
    return r.status_code, r.json()


def _names(client: TestClient, world: World, who: str) -> set[str]:
    return {p["name"] for p in _get(client, world, who, "/projects")[1]}  # type: ignore[union-attr]


def test_members_see_a_restricted_project_and_nobody_else(client: TestClient,
                                                           world: World) -> None:
    a = world.a.id
    admin = {"Authorization": f"Bearer {world.tokens['admin']}"}
    assert _names(client, world, "annotator") == {"comments", "cells"}
    r = client.put(f"/api/v1/projects/{a}/members/{world.ids[OTHER]}", headers=admin)
    assert r.status_code == 200 and [u["name"] for u in r.json()] == [OTHER]

    # a non-member annotator and reviewer: the project does not exist for them
    for who in ("annotator", "reviewer"):
        assert _names(client, world, who) == {"cells"}
        for path in (f"/projects/{a}", f"/projects/{a}/items/{world.a_items[0]}/task",
                     f"/projects/{a}/undo", f"/projects/{a}/scorecard"):
            status, body = _get(client, world, who, path)
            assert status == 404 and body["error"]["code"] == "not_found", (who, path)  # type: ignore[index]
        r = client.post(f"/api/v1/projects/{a}/queue/next",
                        headers={"Authorization": f"Bearer {world.tokens[who]}"})
        assert r.status_code == 404
    # the member labels as before; the admin sees everything
    assert _names(client, world, OTHER) == {"comments", "cells"}
    r = client.post(f"/api/v1/projects/{a}/queue/next",
                    headers={"Authorization": f"Bearer {world.tokens[OTHER]}"})
    assert r.status_code == 200 and r.json()["task"] is not None
    assert _names(client, world, "admin") == {"comments", "cells"}
    # the HTML home lists only what the user may see
    login(client, "annotator")
    home = client.get("/").text
    assert "cells" in home and "comments" not in home
    assert client.get(f"/p/{a}/label").status_code == 404

    r = client.delete(f"/api/v1/projects/{a}/members/{world.ids[OTHER]}", headers=admin)
    assert r.status_code == 204
    assert _names(client, world, "annotator") == {"cells"}  # removing members never opens it
    r = client.patch(f"/api/v1/projects/{a}/settings", headers=admin,
                     json={"members_only": False})
    assert r.status_code == 200 and r.json()["settings"]["members_only"] is False
    assert _names(client, world, "annotator") == {"comments", "cells"}  # the admin opened it
    r = client.delete(f"/api/v1/projects/{a}/members/{world.ids[OTHER]}", headers=admin)
    assert r.status_code == 404
    r = client.put(f"/api/v1/projects/{a}/members/999999", headers=admin)
    assert r.status_code == 404
