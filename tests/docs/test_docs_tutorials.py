"""Every tutorial runs end to end: its bash and python blocks, in order, in a fresh folder.

The tutorials share one example project: ``labelloop quickstart labelloop-example`` runs
once per module, and a tutorial block that is exactly that command gets a copy of it (the
same command, run once). ``bash`` blocks run with ``bash -euo pipefail`` and the
``labelloop`` of this interpreter's environment first on PATH; ``python`` blocks of one page
share one namespace, as in one interpreter session; titled blocks are written as files.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from docblocks import blocks

REPO = Path(__file__).resolve().parents[2]
TUTORIALS = sorted((REPO / "docs" / "tutorials").glob("*.md"))
QUICKSTART = "labelloop quickstart labelloop-example"
BLOCK_TIMEOUT_S = 300


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(
        x for x in (str(REPO / "src"), env.get("PYTHONPATH")) if x)
    env.update(HF_HUB_OFFLINE="1", COLUMNS="100", LABELLOOP_PASSWORD="tutorial-password")
    return env


def _bash(code: str, cwd: Path, where: str) -> None:
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S)
    if done.returncode != 0:
        pytest.fail(f"{where}: the bash block exited with {done.returncode}\n--- block\n{code}"
                    f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}")


@pytest.fixture(scope="module")
def example_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The quickstart project, made once and copied into each tutorial that starts from it."""
    base = tmp_path_factory.mktemp("example")
    _bash(QUICKSTART, base, "fixture")
    return base / "labelloop-example"


def test_every_tutorial_has_blocks_that_run() -> None:
    assert TUTORIALS, "no tutorials found under docs/tutorials"
    for page in TUTORIALS:
        if page.name != "index.md":
            assert any(b.runs for b in blocks(page)), f"{page.name} runs no code block"


@pytest.mark.slow
@pytest.mark.parametrize("page", [p for p in TUTORIALS if p.name != "index.md"],
                         ids=lambda p: p.stem)
def test_tutorial_runs_end_to_end(page: Path, tmp_path: Path, request: pytest.FixtureRequest,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # as `python` started in that folder
    monkeypatch.setenv("PATH", _env()["PATH"])
    namespace: dict[str, Any] = {"__name__": "__tutorial__"}
    started = time.monotonic()
    for block in blocks(page):
        if not block.runs:
            continue
        if block.title:
            target = tmp_path / block.title
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.code, encoding="utf-8")
        elif block.language == "bash" and block.code.strip() == QUICKSTART:
            example = request.getfixturevalue("example_project")  # made once, on first use
            shutil.copytree(example, tmp_path / "labelloop-example")
        elif block.language == "bash":
            _bash(block.code, tmp_path, block.where())
        else:
            # the traceback names the page and the block's first line ("zero-shot.md:42")
            exec(compile(block.code, block.where(), "exec"), namespace)
    print(f"{page.name}: {time.monotonic() - started:.1f}s")
