"""What one annotator request costs the database: the next task and a submit each run in
ONE transaction of a few statements, once the token and the project are cached (the load
target of 50 annotators rests on it; a regression here shows before any benchmark)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from helpers import make_project
from sqlalchemy import event

from labelloop.server import create_app
from labelloop.server.deps import ProjectCache
from labelloop.services.users import Users
from labelloop.storage import Store

# statements a request may send (SQLite counts its BEGIN IMMEDIATE as one), transactions
NEXT_STATEMENTS, SUBMIT_STATEMENTS = 7, 4
SECRET = "request-cost-test-secret-0123456789-abcdefgh"


@dataclass
class Counter:
    statements: list[str] = field(default_factory=list)
    transactions: int = 0

    def reset(self) -> None:
        self.statements.clear()
        self.transactions = 0


@pytest.fixture
def served(db_url: str) -> Iterator[tuple[TestClient, Store, Counter, int, dict[str, str]]]:
    store = Store(db_url)
    pid, _ = make_project(store, "cost", 200, 1)
    users = Users(store, hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1),
                  token_cache_seconds=3600)
    user, _ = users.add("ann", "annotator", "a-long-enough-password")
    token = users.create_token(user.id or 0, "cost")
    app = create_app(store, secret=SECRET, users=users)
    app.state.ctx.project_cache = ProjectCache(store, seconds=3600)
    seen = Counter()

    def on_statement(*args: Any) -> None:
        seen.statements.append(str(args[2]))

    def on_begin(_conn: Any) -> None:
        seen.transactions += 1

    event.listen(store.engine, "before_cursor_execute", on_statement)
    event.listen(store.engine, "begin", on_begin)
    with TestClient(app) as client:
        yield client, store, seen, pid, {"Authorization": f"Bearer {token}"}
    store.close()


def _cycle(client: TestClient, pid: int, headers: dict[str, str],
           seen: Counter) -> tuple[int, int, int, int]:
    seen.reset()
    r = client.post(f"/api/v1/projects/{pid}/queue/next", headers=headers)
    assert r.status_code == 200, r.text
    item = r.json()["task"]["item"]["id"]
    next_cost = len(seen.statements), seen.transactions
    seen.reset()
    r = client.put(f"/api/v1/projects/{pid}/items/{item}/annotation", headers=headers,
                   json={"label": "a", "seconds": 2.0})
    assert r.status_code == 200 and r.json()["item_id"] == item, r.text
    return (*next_cost, len(seen.statements), seen.transactions)


def test_next_and_submit_each_take_one_short_transaction(
        served: tuple[TestClient, Store, Counter, int, dict[str, str]]) -> None:
    client, _store, seen, pid, headers = served
    _cycle(client, pid, headers, seen)  # first answer: the user's source is created
    _cycle(client, pid, headers, seen)  # token last-use time written once
    for _ in range(3):
        next_statements, next_tx, submit_statements, submit_tx = _cycle(
            client, pid, headers, seen)
        assert next_tx == 1 and submit_tx == 1
        assert next_statements <= NEXT_STATEMENTS, seen.statements
        assert submit_statements <= SUBMIT_STATEMENTS, seen.statements


def test_a_revoked_token_stops_at_once_despite_the_cache(
        served: tuple[TestClient, Store, Counter, int, dict[str, str]]) -> None:
    client, _store, seen, pid, headers = served
    _cycle(client, pid, headers, seen)  # the token is cached now
    users: Users = client.app.state.ctx.users  # type: ignore[attr-defined]
    user = users.by_name("ann")
    (token,) = users.tokens(user.id or 0)
    users.revoke_token(user.id or 0, token.id)
    r = client.post(f"/api/v1/projects/{pid}/queue/next", headers=headers)
    assert r.status_code == 401


def test_a_settings_change_through_the_store_applies_at_once(
        served: tuple[TestClient, Store, Counter, int, dict[str, str]]) -> None:
    client, store, seen, pid, headers = served
    _cycle(client, pid, headers, seen)  # the project is cached now
    info = store.project(pid)
    store.set_access(pid, members_only=True)  # "ann" is no member: the project vanishes
    r = client.post(f"/api/v1/projects/{pid}/queue/next", headers=headers)
    assert r.status_code == 404
    store.set_access(pid, members_only=False)
    store.update_settings(pid, info.settings.model_copy(update={"overlap": 2}))
    r = client.get(f"/api/v1/projects/{pid}", headers=headers)
    assert r.status_code == 200 and r.json()["settings"]["overlap"] == 2
