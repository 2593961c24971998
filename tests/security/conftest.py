"""Fixtures of the security tests: the server world on every Store backend (``db_url``:
SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sec_world import make_client
from server_world import World, build_world


@pytest.fixture
def world(tmp_path: Path, db_url: str) -> Iterator[World]:
    w = build_world(tmp_path, url=db_url)
    yield w
    w.store.close()


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with make_client(world) as c:
        yield c
