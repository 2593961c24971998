"""Fixtures of the server API tests."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from server_world import SECRET, World, build_world

from labelloop.server import create_app
from labelloop.server.security import LoginLimiter


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = build_world(tmp_path)
    yield w
    w.store.close()


@pytest.fixture
def app(world: World) -> FastAPI:
    return create_app(world.store, secret=SECRET, media_root=world.media, users=world.users,
                      rng=random.Random(0), limiter=LoginLimiter(per_name=3, window=60))


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c
