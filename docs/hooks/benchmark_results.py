"""MkDocs hook: publish ``benchmarks/results/`` in the site, read where it lies.

The benchmark tables and plots are committed beside the scripts that make them; the site
serves them under ``benchmarks/results/`` from that folder (no copy in ``docs/`` to fall
out of date), so pages link to ``../benchmarks/results/scale.md`` and the strict build checks
those links.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results"
PUBLISHED = (".md", ".png", ".csv")


def on_files(files: Files, config: Any) -> Files:
    """Add every result table, plot and CSV of ``benchmarks/results``."""
    for path in sorted(RESULTS.iterdir()):
        if path.suffix in PUBLISHED:
            files.append(File(path.relative_to(REPO).as_posix(), str(REPO),
                              config["site_dir"], config["use_directory_urls"]))
    return files
