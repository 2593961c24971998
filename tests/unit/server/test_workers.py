"""``labelloop serve --workers N``: how many processes, what each worker builds."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from labelloop.errors import UserInputError
from labelloop.server.workers import (
    CONFIG_ENV,
    ServeConfig,
    app,
    check_workers,
    default_workers,
    serve,
)
from labelloop.services.project import Project

SECRET = "workers-test-secret-0123456789-abcdefghijkl"


def test_default_workers_follow_the_database_and_the_cpus() -> None:
    assert default_workers("sqlite", cpus=8) == 1
    assert default_workers("postgresql", cpus=2) == 2
    assert default_workers("postgresql", cpus=32) == 4


def test_check_workers_refuses_what_cannot_run() -> None:
    check_workers(3, background_jobs=False)
    with pytest.raises(UserInputError, match="between 1 and"):
        check_workers(0, background_jobs=False)
    with pytest.raises(UserInputError, match="--workers 1"):
        check_workers(2, background_jobs=True)


def test_a_worker_builds_the_app_from_the_environment(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "p"
    Project.create(folder, task="text-classification", labels=["a", "b"], name="w").close()
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    with pytest.raises(UserInputError, match=CONFIG_ENV):
        app()
    monkeypatch.setenv(CONFIG_ENV, ServeConfig(str(folder), SECRET, max_upload_mb=1.0,
                                               trusted_proxies=("10.0.0.1",)).to_env())
    built = app()
    ctx = built.state.ctx
    assert ctx.max_upload_bytes == 1024 * 1024 and ctx.trusted_proxies == {"10.0.0.1"}
    with TestClient(built) as client:
        assert client.get("/api/v1/projects").status_code == 401  # served, and guarded
    ctx.store.close()


def test_workers_listen_on_a_tcp_socket_so_answers_are_not_delayed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """asyncio sets TCP_NODELAY only on connections of a socket whose protocol is TCP;
    with protocol 0 every answer's body waited ~40 ms for the client's delayed ACK."""
    import socket

    import uvicorn.supervisors

    seen: dict[str, object] = {}

    class FakeSupervisor:
        def __init__(self, config: object, sockets: list[socket.socket]) -> None:
            seen["config"], seen["sockets"] = config, sockets

        def run(self) -> None:
            seen["ran"] = True

    monkeypatch.setattr(uvicorn.supervisors, "Multiprocess", FakeSupervisor)
    serve(3, host="127.0.0.1", port=0)
    (sock,) = seen["sockets"]  # type: ignore[misc]
    assert seen["ran"] and sock.proto == socket.IPPROTO_TCP
    assert seen["config"].workers == 3 and seen["config"].factory  # type: ignore[attr-defined]
