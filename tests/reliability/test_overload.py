"""No connection in time: the API answers 503 with Retry-After, never 500."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from labelloop.errors import UnavailableError
from labelloop.server import create_app
from labelloop.services.project import Project
from labelloop.services.users import Users


@pytest.fixture
def tiny_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABELLOOP_POOL_SIZE", "1")  # one connection, one more on demand
    monkeypatch.setenv("LABELLOOP_POOL_TIMEOUT", "0.2")


@pytest.mark.usefixtures("tiny_pool")
def test_exhausted_pool_answers_503_with_retry_after(tmp_path: Path, db_url: str) -> None:
    db = None if db_url.startswith("sqlite") else db_url
    p = Project.create(tmp_path / "p", task="text-classification", labels=["a", "b"], db=db)
    users = Users(p.store)
    annotator, _ = users.add("ann", "annotator", "a-long-enough-password")
    token = users.create_token(annotator.id or 0, "test")
    app = create_app(p.store, secret=secrets.token_urlsafe(32), users=users)
    held = [p.store.engine.connect() for _ in range(2)]  # every connection is busy
    try:
        with pytest.raises(UnavailableError):
            p.store.count_items(p.id)
        with TestClient(app, raise_server_exceptions=False) as client:
            r = client.post(f"/api/v1/projects/{p.id}/queue/next",
                            headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 503, r.text
        assert r.headers["Retry-After"] == "1"
        assert r.json()["error"]["code"] == "unavailable"
    finally:
        for conn in held:
            conn.close()
    p.close()
