"""Imports read in a second process (:func:`labelloop.io.read_ahead.read_ahead`): the same
items, errors and all-or-nothing outcome as a read in the importing process, on SQLite and
PostgreSQL."""

from __future__ import annotations

import csv
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from labelloop.errors import ImportReport, ImportValidationError
from labelloop.io.common import BATCH_SIZE
from labelloop.io.read_ahead import can_read_ahead, read_ahead
from labelloop.services import project as project_module
from labelloop.services.browse import Browse
from labelloop.services.project import Project

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs the fork start method")


@pytest.fixture(autouse=True)
def only_this_tests_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Count only the threads a test starts: a test process (an xdist worker above all)
    keeps idle threads of earlier tests (servers, progress monitors), and with them the
    reader would never go to a child here; every forked reader below only iterates,
    pickles and exits."""
    real = threading.active_count
    baseline = real()
    monkeypatch.setattr(threading, "active_count", lambda: real() - baseline + 1)

N_ROWS = 2 * BATCH_SIZE + 300  # three batches


def _numbers(n: int, fail: Exception | None = None) -> Iterator[int]:
    yield from range(n)
    if fail is not None:
        raise fail


def test_items_come_in_order_then_the_readers_exception() -> None:
    assert list(read_ahead(lambda: _numbers(5))) == [0, 1, 2, 3, 4]
    got: list[int] = []
    report = ImportReport()
    report.add("in.csv", 7, "label", "unknown class 'x'", "fix the label")
    with pytest.raises(ImportValidationError) as err:
        got.extend(read_ahead(lambda: _numbers(3, ImportValidationError(report))))
    assert got == [0, 1, 2]
    assert err.value.report == report  # the report crossed the process boundary whole
    assert "unknown class 'x'" in str(err.value)


def test_an_exception_that_does_not_pickle_is_described() -> None:
    class Local(Exception):  # a local class cannot be pickled
        pass

    with pytest.raises(RuntimeError, match="Local: broken reader"):
        list(read_ahead(lambda: _numbers(2, Local("broken reader"))))


def test_a_reader_killed_mid_file_is_an_error_not_a_short_file() -> None:
    here = os.getpid()

    def dies() -> Iterator[int]:
        yield 1
        if os.getpid() == here:  # never kill the test process itself
            raise AssertionError("the reader ran in the test process, not in a child")
        os.kill(os.getpid(), signal.SIGKILL)
        yield 2

    got: list[int] = []
    with pytest.raises(RuntimeError, match="stopped unexpectedly"):
        got.extend(read_ahead(dies))
    assert got == [1]


def test_the_reader_runs_in_a_child_unless_other_threads_run() -> None:
    def pid() -> Iterator[int]:
        yield os.getpid()

    assert list(read_ahead(pid)) != [os.getpid()]
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:  # a fork would copy no other thread: the reader stays in this process
        assert list(read_ahead(pid)) == [os.getpid()]
    finally:
        stop.set()
        other.join()


def test_closing_early_stops_the_reader() -> None:
    it = read_ahead(lambda: _numbers(10**9))
    assert next(it) == 0
    it.close()  # would hang or leak a process if the child were left waiting


def _write_csv(path: Path, n: int, *, bad_row: int | None = None) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "text", "label"])
        for i in range(n):
            label = "nope" if i == bad_row else ("ham", "spam")[i % 2]
            w.writerow([f"r{i}", f"comment number {i} {'apple' if i % 4 == 0 else 'pear'}", label])
    return path


@pytest.fixture
def project(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    monkeypatch.setattr(project_module, "READ_AHEAD_BYTES", 0)  # every file read ahead
    p = Project.create(
        tmp_path / "proj", task="text-classification", labels=["ham", "spam"], db=db_url
    )
    yield p
    p.close()


def test_a_file_read_ahead_is_stored_whole_and_searchable(project: Project, tmp_path: Path) -> None:
    assert can_read_ahead()  # the import below reads in a child
    path = _write_csv(tmp_path / "in.csv", N_ROWS)
    seen: list[int] = []
    res = project.import_file(path, label_kind="gold", progress=seen.append)
    assert (res.added, res.skipped, res.annotations) == (N_ROWS, 0, N_ROWS)
    assert len(set(res.item_ids)) == N_ROWS
    assert seen[-1] == path.stat().st_size and seen == sorted(seen)
    items = project.items()
    assert [it.external_id for it in items] == [f"r{i}" for i in range(N_ROWS)]
    lm = project.label_matrix(kinds=["gold"])
    assert (lm.L[:, 0] == [i % 2 for i in range(N_ROWS)]).all()
    browse = Browse(project.store, project.info)
    assert browse.count(browse.filter(search="apple")) == len(range(0, N_ROWS, 4))
    again = project.import_file(path, label_kind="gold")
    assert again.unchanged and project.store.count_items(project.id) == N_ROWS


def test_a_bad_row_read_ahead_leaves_the_store_unchanged(project: Project, tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "in.csv", N_ROWS, bad_row=N_ROWS - 3)
    with pytest.raises(ImportValidationError) as err:
        project.import_file(path, label_kind="gold")
    problem = err.value.report.problems[0]
    assert problem.line == N_ROWS - 3 + 2 and "nope" in problem.problem
    assert project.store.count_items(project.id) == 0 and project.sources() == []
    browse = Browse(project.store, project.info)
    assert browse.count(browse.filter(search="apple")) == 0


def test_a_repeated_external_id_is_found_by_the_reader(project: Project, tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "in.csv", N_ROWS)
    with path.open("a", encoding="utf-8") as fh:
        fh.write("r5,other text under an old id,ham\n")
    with pytest.raises(ImportValidationError) as err:
        project.import_file(path)
    assert "'r5' repeats row 6" in err.value.report.problems[0].problem
    assert project.store.count_items(project.id) == 0
