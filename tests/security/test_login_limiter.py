"""Wrong passwords slow down their own address, never the real user elsewhere; proxy
headers count only from a configured proxy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sec_world import make_client
from server_world import PASSWORD, World

from labelloop.server.security import LoginLimiter, TooManyRequestsError


def test_guessing_does_not_lock_out_the_real_user(world: World) -> None:
    app = make_client(world, limiter=LoginLimiter()).app
    evil = TestClient(app, client=("203.0.113.9", 4000))
    real = TestClient(app, client=("198.51.100.7", 4000))
    for _ in range(10):
        r = evil.post("/api/v1/auth/login", json={"name": "annotator", "password": "guess"})
        assert r.status_code in (401, 429)
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
    # the guesser waits even with the right password ...
    r = evil.post("/api/v1/auth/login", json={"name": "annotator", "password": PASSWORD})
    assert r.status_code == 429
    # ... the real user from their own address logs in at once
    r = real.post("/api/v1/auth/login", json={"name": "annotator", "password": PASSWORD})
    assert r.status_code == 200


def test_backoff_grows_and_ends() -> None:
    now = [0.0]
    limiter = LoginLimiter(per_name=2, per_address=100, window=160.0, clock=lambda: now[0])
    for _ in range(2):
        limiter.check("ann", "a")
        limiter.failed("ann", "a")
    waits = []
    for _ in range(4):
        try:
            limiter.check("ann", "a")
        except TooManyRequestsError as exc:  # how long?
            waits.append(int(str(exc).split("wait ")[1].split()[0]))
        limiter.failed("ann", "a")
    assert waits[0] == 10 and waits == sorted(waits) and waits[-1] > waits[0]
    now[0] += 160.0  # a quiet window: forgotten
    limiter.check("ann", "a")
    limiter.check("ann", "b")  # another address was never slowed


def test_forwarded_for_is_ignored_unless_the_proxy_is_trusted(world: World) -> None:
    def run(trusted: tuple[str, ...]) -> int:
        app = make_client(world, limiter=LoginLimiter(per_name=3), trusted_proxies=trusted).app
        proxy = TestClient(app, client=("127.0.0.1", 5000))
        for n in range(4):  # each guess claims another client address
            proxy.post("/api/v1/auth/login", json={"name": "annotator", "password": "guess"},
                       headers={"X-Forwarded-For": f"10.9.9.{n}"})
        r = proxy.post("/api/v1/auth/login", json={"name": "annotator", "password": PASSWORD},
                       headers={"X-Forwarded-For": "10.1.1.1"})
        return r.status_code

    assert run(()) == 429  # the header is ignored: all guesses came from 127.0.0.1
    assert run(("127.0.0.1",)) == 200  # behind a trusted proxy: per real client


def test_serve_trusts_proxy_headers_only_when_told(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import re

    import uvicorn
    from typer.testing import CliRunner

    from labelloop.cli.app import app as cli
    from labelloop.services.project import Project

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    monkeypatch.delenv("LABELLOOP_SECRET", raising=False)
    Project.create(tmp_path / "p", task="text-classification", labels=["a", "b"]).close()
    r = CliRunner().invoke(cli, ["serve", str(tmp_path / "p")])
    assert r.exit_code == 0, r.output
    assert re.search(r"password \S{24,}", r.output)  # the first admin's password is long
    assert seen["proxy_headers"] is False  # uvicorn trusted 127.0.0.1 by default
    assert seen["app"].state.ctx.trusted_proxies == frozenset()
    r = CliRunner().invoke(cli, ["serve", str(tmp_path / "p"), "--trusted-proxy", "10.0.0.5"])
    assert r.exit_code == 0, r.output
    assert seen["app"].state.ctx.trusted_proxies == frozenset({"10.0.0.5"})
