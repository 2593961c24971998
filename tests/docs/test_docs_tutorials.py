"""Every tutorial runs end to end: its bash and python blocks, in order, in a fresh folder.

Each page runs in its own process (``run_tutorial.py``): bash blocks with the ``labelloop``
of this interpreter's environment first on PATH and this checkout's ``src`` on PYTHONPATH,
python blocks in one namespace. The pages share one example project: ``labelloop quickstart
labelloop-example`` runs once, and a page's block that is exactly that command gets a copy.
Pages run two at a time (the pages that need no example while it is made), which keeps the
wall time near half the CPU time on a 2-core machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from docblocks import blocks

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
TUTORIALS = sorted(p for p in (REPO / "docs" / "tutorials").glob("*.md") if p.name != "index.md")
QUICKSTART = "labelloop quickstart labelloop-example"
PAGE_TIMEOUT_S = 600
WORKERS = 2


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(
        x for x in (str(REPO / "src"), str(HERE), env.get("PYTHONPATH")) if x)
    env.update(HF_HUB_OFFLINE="1", COLUMNS="100", LABELLOOP_PASSWORD="tutorial-password")
    return env


def _run(args: list[str], cwd: Path) -> tuple[int, str, float]:
    started = time.monotonic()
    done = subprocess.run(args, cwd=cwd, env=_env(), capture_output=True, text=True,
                          timeout=PAGE_TIMEOUT_S, check=False)
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


def _needs_example(page: Path) -> bool:
    return any(b.runs and b.code.strip() == QUICKSTART for b in blocks(page))


@pytest.fixture(scope="module")
def page_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str, float]]:
    """Run every tutorial (the example first, in parallel with the pages not needing it)."""
    base = tmp_path_factory.mktemp("tutorials")
    example_dir = base / "example"
    example_dir.mkdir()
    runner = str(HERE / "run_tutorial.py")

    def page_job(page: Path, example: Future[tuple[int, str, float]] | None
                 ) -> tuple[int, str, float]:
        folder = base / page.stem
        folder.mkdir()
        args = [sys.executable, runner, str(page), str(folder)]
        if example is not None:
            rc, out, _ = example.result()
            if rc != 0:
                return rc, f"the shared example project failed ({QUICKSTART}):\n{out}", 0.0
            args += ["--example", str(example_dir / "labelloop-example")]
        return _run(args, folder)

    with ThreadPoolExecutor(WORKERS) as pool:
        example = pool.submit(_run, ["bash", "-c", QUICKSTART], example_dir)
        # pages without the example first, so they run while it is made
        order = sorted(TUTORIALS, key=_needs_example)
        futures = {p.name: pool.submit(page_job, p, example if _needs_example(p) else None)
                   for p in order}
        return {name: f.result() for name, f in futures.items()}


def test_every_tutorial_has_blocks_that_run() -> None:
    assert TUTORIALS, "no tutorials found under docs/tutorials"
    for page in TUTORIALS:
        assert any(b.runs for b in blocks(page)), f"{page.name} runs no code block"


@pytest.mark.slow
@pytest.mark.parametrize("page", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_runs_end_to_end(page: Path,
                                  page_runs: dict[str, tuple[int, str, float]]) -> None:
    rc, output, seconds = page_runs[page.name]
    assert rc == 0, f"{page.name} failed after {seconds:.0f}s:\n{output[-6000:]}"
