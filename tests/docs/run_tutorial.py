"""Run one tutorial page's code blocks in order, in one folder, as a reader would.

    python tests/docs/run_tutorial.py PAGE.md FOLDER [--example PROJECT]

``bash`` blocks run with ``bash -euo pipefail`` in FOLDER; ``python`` blocks run in this
process, in one namespace (one interpreter session), with FOLDER as the working directory and
on ``sys.path``; titled blocks are written as files. A block that is exactly
``labelloop quickstart labelloop-example`` copies PROJECT (the same command, run once by the
caller) when ``--example`` is given. Exits 1 at the first failing block, naming its page and
line; prints each block's wall time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from docblocks import blocks

QUICKSTART = "labelloop quickstart labelloop-example"
BLOCK_TIMEOUT_S = 300


def run_page(page: Path, folder: Path, example: Path | None) -> int:
    """Run the blocks of ``page`` in ``folder``; 0 when every block succeeded."""
    os.chdir(folder)
    sys.path.insert(0, str(folder))
    namespace: dict[str, Any] = {"__name__": "__tutorial__"}
    for block in blocks(page):
        if not block.runs:
            continue
        started = time.monotonic()
        if block.title:
            target = folder / block.title
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.code, encoding="utf-8")
        elif block.language == "bash" and block.code.strip() == QUICKSTART and example:
            shutil.copytree(example, folder / "labelloop-example")
        elif block.language == "bash":
            sys.stdout.flush()
            done = subprocess.run(["bash", "-euo", "pipefail", "-c", block.code],
                                  timeout=BLOCK_TIMEOUT_S, check=False)
            if done.returncode != 0:
                print(f"FAILED {block.where()}: the bash block exited with {done.returncode}:\n"
                      f"{block.code}", flush=True)
                return 1
        else:
            try:
                exec(compile(block.code, block.where(), "exec"), namespace)
            except Exception:
                traceback.print_exc()
                print(f"FAILED {block.where()}: the python block raised:\n{block.code}",
                      flush=True)
                return 1
        print(f"-- {block.where()} ({block.language}) {time.monotonic() - started:.1f}s",
              flush=True)
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("page", type=Path)
    ap.add_argument("folder", type=Path)
    ap.add_argument("--example", type=Path)
    args = ap.parse_args()
    sys.exit(run_page(args.page.resolve(), args.folder.resolve(),
                      args.example.resolve() if args.example else None))


if __name__ == "__main__":
    main()
