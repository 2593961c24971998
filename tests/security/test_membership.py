"""Members-only is an explicit project setting: removing members never opens a project."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sec_world import bearer
from server_world import OTHER, World

from labelloop.services.members import Members
from labelloop.storage import Store


def _sees(client: TestClient, world: World, who: str, pid: int) -> bool:
    return client.get(f"/api/v1/projects/{pid}", headers=bearer(world, who)).status_code == 200


def test_removing_the_last_member_keeps_the_project_closed(client: TestClient,
                                                          world: World) -> None:
    a, admin = world.a.id, bearer(world, "admin")
    assert client.put(f"/api/v1/projects/{a}/members/{world.ids[OTHER]}",
                      headers=admin).status_code == 200
    assert client.delete(f"/api/v1/projects/{a}/members/{world.ids[OTHER]}",
                         headers=admin).status_code == 204
    assert world.store.member_ids(a) == []
    for who in ("annotator", "reviewer", OTHER):  # failed open before: visible to all
        assert not _sees(client, world, who, a), who
        r = client.post(f"/api/v1/projects/{a}/queue/next", headers=bearer(world, who))
        assert r.status_code == 404
    assert _sees(client, world, "admin", a)
    # only an admin's explicit setting opens it; annotators may not change it
    r = client.patch(f"/api/v1/projects/{a}/settings", headers=bearer(world, "annotator"),
                     json={"members_only": False})
    assert r.status_code == 404
    r = client.patch(f"/api/v1/projects/{a}/settings", headers=admin,
                     json={"members_only": False})
    assert r.status_code == 200 and r.json()["settings"]["members_only"] is False
    assert _sees(client, world, "annotator", a)
    r = client.patch(f"/api/v1/projects/{a}/settings", headers=admin,
                     json={"members_only": True})
    assert r.status_code == 200 and not _sees(client, world, "annotator", a)


def test_the_migration_keeps_projects_with_members_closed(tmp_path: Path) -> None:
    """A database at revision 0003 with members: after the upgrade it is members-only."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from labelloop.core.schema import LabelSchema

    url = f"sqlite:///{tmp_path / 'old.db'}"
    store = Store(url, migrate=False)
    cfg = Config()
    from importlib import resources

    cfg.set_main_option("script_location",
                        str(resources.files("labelloop.storage") / "migrations"))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0003")
        conn.execute(text(
            "INSERT INTO projects (id, name, task, label_schema, settings, created_at) VALUES "
            "(1, 'closed', 'text-classification', :schema, '{}', '2024-01-01'), "
            "(2, 'open', 'text-classification', :schema, '{}', '2024-01-01')"),
            {"schema": LabelSchema.from_labels("text-classification", ["a", "b"])
             .model_dump_json()})
        conn.execute(text("INSERT INTO users (id, name, role, active, created_at) "
                          "VALUES (1, 'ann', 'annotator', 1, '2024-01-01')"))
        conn.execute(text("INSERT INTO project_members (project_id, user_id, created_at) "
                          "VALUES (1, 1, '2024-01-01')"))
    store.migrate()
    assert {p.name: p.members_only for p in store.projects()} == {"closed": True,
                                                                  "open": False}
    ann = store.get_user(1)
    assert ann is not None and ann.name == "ann" and ann.role == "annotator"
    assert [p.name for p in Members(store).projects(ann)] == ["closed", "open"]
    store.remove_member(1, 1)
    assert [p.name for p in Members(store).projects(ann)] == ["open"]
    store.close()


def test_the_dashboard_toggles_members_only(world: World) -> None:
    from sec_world import make_client
    from server_world import login

    client = make_client(world)
    csrf = login(client, "admin")
    a = world.a.id
    r = client.post(f"/p/{a}/members/access", data={"members_only": "true", "csrf_token": csrf})
    assert r.status_code == 200 and "Members-only" in r.text
    assert world.store.project(a).members_only
    r = client.post(f"/p/{a}/members/access", data={"members_only": "false", "csrf_token": csrf})
    assert "Open to every user." in r.text and not world.store.project(a).members_only
