"""The documentation site builds with ``mkdocs build --strict``, offline, with every command.

Strict mode turns every warning into a failure: a broken link or anchor, a page missing from
the nav, an API reference (mkdocstrings) that names an object that does not exist, a
screenshot the browser tests no longer take.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from labelloop.cli.app import app

REPO = Path(__file__).resolve().parents[2]
# a <script src> or <link href> to another host: the site must read offline (no CDN)
EXTERNAL_ASSET = re.compile(r"<(?:script|link)[^>]+(?:src|href)=\"(?:https?:)?//", re.I)


def _commands(group: object, path: tuple[str, ...] = ("labelloop",)) -> list[str]:
    """Every command path of the Typer app, e.g. ``labelloop lf apply``."""
    out = []
    for name, cmd in getattr(group, "commands", {}).items():
        out.append(" ".join((*path, name)))
        out += _commands(cmd, (*path, name))
    return out


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", PYTHONPATH=os.pathsep.join(
        x for x in (str(REPO / "src"), os.environ.get("PYTHONPATH")) if x))
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q",
                           "-f", str(REPO / "mkdocs.yml"), "-d", str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout}\n{done.stderr}"
    return out


@pytest.mark.slow
def test_cli_reference_lists_every_command_and_option(site: Path) -> None:
    page = (site / "reference" / "cli.html").read_text(encoding="utf-8")
    root = typer.main.get_command(app)
    commands = _commands(root)
    assert "labelloop lf apply" in commands and "labelloop user token" in commands
    for command in commands:
        assert f"<code>{command}</code>" in page, f"{command} missing from the CLI reference"
    for option in ("--target-precision", "--executor", "--label-kind", "--trusted-proxy"):
        assert f"<code>{option}</code>" in page


@pytest.mark.slow
def test_api_reference_documents_the_public_api(site: Path) -> None:
    for page in ("weak", "labelmodels", "active", "prelabel", "quality", "io", "exec"):
        module = importlib.import_module(f"labelloop.{page}")
        html = (site / "reference" / "api" / f"{page}.html").read_text(encoding="utf-8")
        for name in module.__all__:
            # labelloop.quality.NAME, or NAME documented in its module when the two share a
            # name (labelloop.quality.scorecards.scorecards)
            anchor = rf'id="labelloop\.{page}(\.\w+)?\.{name}"'
            assert re.search(anchor, html), f"{name} missing from {page}.html"
        assert ":class:<code>" not in html and ":func:<code>" not in html  # roles resolved
    client = (site / "reference" / "api" / "client.html").read_text(encoding="utf-8")
    assert 'id="labelloop.client.Client.next_task"' in client


@pytest.mark.slow
def test_site_loads_nothing_from_other_hosts(site: Path) -> None:
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 20
    offenders = [p.relative_to(site) for p in pages
                 if EXTERNAL_ASSET.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


@pytest.mark.slow
def test_benchmark_results_and_screenshots_are_published(site: Path) -> None:
    assert (site / "benchmarks" / "results" / "economics.html").is_file()
    assert (site / "benchmarks" / "results" / "economics_youtube-spam.png").is_file()
    for shot in ("label", "review", "dashboard", "boxes"):
        assert (site / "screenshots" / f"{shot}.png").is_file()


def test_screenshots_stay_small() -> None:
    shots = sorted((REPO / "docs" / "screenshots").glob("*.png"))
    assert shots, "no screenshots: run tests/browser"
    sizes = {p.name: p.stat().st_size for p in shots}
    assert max(sizes.values()) < 200_000, sizes
    assert sum(sizes.values()) < 1_000_000, sizes
