"""``labelloop serve`` and ``labelloop user`` from the command line."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from labelloop.cli.app import app
from labelloop.services.project import Project


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "proj"
    Project.create(folder, task="text-classification", labels=["ham", "spam"]).close()
    return folder


def test_user_commands(project_dir: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["user", "add", "alice", "--role", "reviewer", "-p", str(project_dir)])
    assert r.exit_code == 0, r.output
    assert re.search(r"added reviewer alice, password \S{12,}", r.output)
    r = runner.invoke(app, ["user", "add", "alice", "-p", str(project_dir)])
    assert r.exit_code == 2 and "already exists" in r.output
    r = runner.invoke(app, ["user", "add", "bob", "--role", "boss", "-p", str(project_dir)])
    assert r.exit_code == 2 and "unknown role" in r.output
    r = runner.invoke(app, ["user", "token", "alice", "-p", str(project_dir)])
    assert r.exit_code == 0 and r.output.strip().startswith("ll_")
    r = runner.invoke(app, ["user", "deactivate", "alice", "-p", str(project_dir)])
    assert r.exit_code == 0
    r = runner.invoke(app, ["user", "list", "-p", str(project_dir)])
    assert re.search(r"alice\s+reviewer\s+inactive", r.output)


def test_serve_creates_secret_and_first_admin(project_dir: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    monkeypatch.delenv("LABELLOOP_SECRET", raising=False)
    runner = CliRunner()
    r = runner.invoke(app, ["serve", str(project_dir), "--port", "8123"])
    assert r.exit_code == 0, r.output
    assert re.search(r"user admin, password \S{12,}", r.output)
    assert "http://127.0.0.1:8123/" in r.output
    assert seen["port"] == 8123 and seen["host"] == "127.0.0.1"
    assert (project_dir / ".labelloop-secret").is_file()
    r = runner.invoke(app, ["serve", str(project_dir)])
    assert "password" not in r.output  # the admin exists now
    monkeypatch.setenv("LABELLOOP_SECRET", "changeme")
    r = runner.invoke(app, ["serve", str(project_dir)])
    assert r.exit_code == 2 and "LABELLOOP_SECRET" in r.output


def test_user_grant_and_revoke(project_dir: Path) -> None:
    from labelloop.services.members import Members

    runner = CliRunner()
    for name in ("alice", "bob"):
        assert runner.invoke(app, ["user", "add", name, "-p", str(project_dir)]).exit_code == 0
    r = runner.invoke(app, ["user", "grant", "alice", "-p", str(project_dir)])
    assert r.exit_code == 0 and "alice is a member of" in r.output
    with Project.open(project_dir) as p:
        from labelloop.services.users import Users

        users = Users(p.store)
        alice, bob = users.by_name("alice"), users.by_name("bob")
        members = Members(p.store)
        assert members.visible(alice, [p.id]) == [p.id]
        assert members.visible(bob, [p.id]) == []
    r = runner.invoke(app, ["user", "revoke", "bob", "-p", str(project_dir)])
    assert r.exit_code == 2 and "bob is not a member" in r.output
    r = runner.invoke(app, ["user", "revoke", "alice", "-p", str(project_dir)])
    assert r.exit_code == 0 and "only admins see it now" in r.output
    r = runner.invoke(app, ["user", "grant", "nobody", "-p", str(project_dir)])
    assert r.exit_code == 2 and "not found" in r.output
