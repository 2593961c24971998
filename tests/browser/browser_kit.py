"""What the browser tests share besides fixtures: the live server handle, log-in, screenshots.

A module of its own (not ``conftest``), so test modules import it by a name no other test
folder uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server_world import World

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
DOC_SHOTS = REPO / "docs" / "screenshots"


@dataclass
class LiveServer:
    url: str
    world: World


def shot(page: Any, name: str) -> None:
    """Keep a screenshot under test-artifacts/ (gitignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def doc_shot(page: Any, name: str) -> None:
    """Save the visible page as ``docs/screenshots/NAME.png``, the picture the docs show.

    Taken by the tests at the pages the tutorials describe, so the pictures follow the UI;
    the committed files are overwritten by every run.
    """
    DOC_SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOC_SHOTS / f"{name}.png"), full_page=False, scale="css")


def log_in(page: Any, url: str, name: str, password: str) -> None:
    page.goto(f"{url}/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/")
