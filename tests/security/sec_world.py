"""Helpers of the security tests: the server world of tests/integration/server."""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "server"))

from server_world import SECRET, World

from labelloop.server import create_app
from labelloop.server.security import LoginLimiter


def make_client(world: World, **options: Any) -> TestClient:
    """A test client of a fresh app over the world's store."""
    options.setdefault("limiter", LoginLimiter())
    options.setdefault("media_root", world.media)
    app = create_app(world.store, secret=SECRET, users=world.users, rng=random.Random(0),
                     **options)
    return TestClient(app)


def bearer(world: World, who: str) -> dict[str, str]:
    """The Authorization header of a user's API token."""
    return {"Authorization": f"Bearer {world.tokens[who]}"}
