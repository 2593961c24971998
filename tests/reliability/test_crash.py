"""SIGKILL ``labelloop serve`` under load and ``labelloop import`` midway (issue 12).

A few trials of ``benchmarks/crash.py`` (which runs 20 and more): every acknowledged answer
is stored, SQLite's integrity check is ok, the restarted server answers without a 5xx, and
an import killed while it writes leaves none of the file's items or all of them.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from crash import crash_trial, import_trial, make_world, write_jsonl

pytestmark = pytest.mark.slow
TRIALS = 3


def test_sigkill_under_load_loses_no_acknowledged_answer(tmp_path: Path) -> None:
    rng = random.Random(12)
    acknowledged = 0
    for t in range(TRIALS):
        world = make_world(tmp_path / f"trial{t}")
        result = crash_trial(world, seconds=2.5, rng=rng)
        where = f"trial {t}, killed after {result.killed_after_s:.2f} s"
        assert result.lost == [], f"{where}: acknowledged answers lost"
        assert result.integrity == "ok", where
        assert result.errors_before_kill == 0, f"{where}: 5xx under load"
        assert result.errors_after_restart == [], where
        acknowledged += result.acknowledged
    assert acknowledged > 0, "no answer was acknowledged before the kills: nothing was tested"


@pytest.mark.postgres
def test_sigkill_on_postgres_loses_no_acknowledged_answer(tmp_path: Path,
                                                          postgres_url: str) -> None:
    world = make_world(tmp_path / "pg", db=postgres_url)
    result = crash_trial(world, seconds=2.5, rng=random.Random(7))
    assert result.lost == []
    assert result.errors_before_kill == 0
    assert result.errors_after_restart == []
    assert result.acknowledged > 0


def test_import_killed_midway_is_all_or_nothing(tmp_path: Path) -> None:
    rows = 40_000
    data = write_jsonl(tmp_path / "big.jsonl", rows)
    result = import_trial(tmp_path / "proj", data, rows, rng=random.Random(3))
    assert result.items_after_kill in (0, rows), result
    assert result.items_after_retry == rows, result
    assert result.killed, f"the import finished before the kill; make the file larger: {result}"
