"""Browser tests: Playwright (PyPI) driving Debian's chromium against a live server.

``playwright install`` cannot work here, so chromium comes from the system
(``apt-get install chromium``). Without it the tests skip, except under ``CI=true``
where they fail with the fix.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration" / "server"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from browser_kit import LiveServer  # noqa: E402
from server_world import SECRET, build_world  # noqa: E402

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def chromium_path() -> str:
    """The system chromium, or fail (CI) / skip (elsewhere) with how to install it."""
    found = os.environ.get("LABELLOOP_CHROMIUM") or shutil.which("chromium") or shutil.which(
        "chromium-browser")
    if found:
        return found
    msg = "browser tests need Debian's chromium: apt-get install -y chromium"
    if os.environ.get("CI"):
        pytest.fail(f"{msg} (CI=true)")
    pytest.skip(msg)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    """The server on a free loopback port, in a thread."""
    import uvicorn

    from labelloop.server import create_app

    world = build_world(tmp_path)
    app = create_app(world.store, secret=SECRET, media_root=world.media, users=world.users,
                     rng=random.Random(1))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the test server did not start")
        time.sleep(0.05)
    yield LiveServer(f"http://127.0.0.1:{port}", world)
    server.should_exit = True
    thread.join(10)
    world.store.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    path = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 860})
    ctx.set_default_timeout(10_000)
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.js_errors = errors
    yield pg
    ctx.close()
