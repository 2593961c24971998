"""Streaming imports and exports on SQLite and PostgreSQL: batches in one transaction (all
or nothing), repeated files skipped by hash, exports read page by page from one snapshot."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from labelloop.errors import ImportValidationError
from labelloop.io.common import BATCH_SIZE
from labelloop.services.project import Project
from labelloop.storage import items as storage_items

N_ROWS = BATCH_SIZE + 600  # more than one batch


def _write_csv(path: Path, n: int, *, bad_row: int | None = None) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "text", "label"])
        for i in range(n):
            label = "nope" if i == bad_row else ("ham", "spam")[i % 2]
            w.writerow([f"r{i}", f"comment number {i}", label])
    return path


@pytest.fixture
def project(db_url: str, tmp_path: Path) -> Project:
    p = Project.create(tmp_path / "proj", task="text-classification", labels=["ham", "spam"],
                       db=db_url)
    yield p
    p.close()


def _count_batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the size of every batch the store writes."""
    sizes: list[int] = []
    real = storage_items._Importer.add

    def add(self: Any, items: Any, annotations: Any) -> None:
        sizes.append(len(items))
        real(self, items, annotations)

    monkeypatch.setattr(storage_items._Importer, "add", add)
    return sizes


def test_a_bad_row_late_in_the_file_rolls_back_the_batches_already_written(
        project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write_csv(tmp_path / "in.csv", N_ROWS, bad_row=N_ROWS - 5)
    sizes = _count_batches(monkeypatch)
    with pytest.raises(ImportValidationError) as err:
        project.import_file(path, label_kind="gold")
    assert sizes == [BATCH_SIZE]  # the first batch was written before the bad row was read
    problem = err.value.report.problems[0]
    assert problem.line == N_ROWS - 5 + 2  # header is line 1, row 0 is line 2
    assert problem.field == "label" and "nope" in problem.problem
    assert "schema" in problem.fix
    assert project.store.count_items(project.id) == 0
    assert project.sources() == []
    # nothing was recorded either: the same file, fixed, imports in full
    _write_csv(path, N_ROWS)
    res = project.import_file(path, label_kind="gold")
    assert (res.added, res.annotations, res.unchanged) == (N_ROWS, N_ROWS, False)


def test_import_streams_in_batches_and_stores_every_row(
        project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write_csv(tmp_path / "in.csv", N_ROWS)
    sizes = _count_batches(monkeypatch)
    seen: list[int] = []
    res = project.import_file(path, label_kind="gold", progress=seen.append)
    assert sizes == [BATCH_SIZE, N_ROWS - BATCH_SIZE]
    assert (res.added, res.skipped, res.annotations) == (N_ROWS, 0, N_ROWS)
    assert len(set(res.item_ids)) == N_ROWS
    assert seen[-1] == path.stat().st_size and seen == sorted(seen)
    lm = project.label_matrix(kinds=["gold"])
    assert lm.L.shape == (N_ROWS, 1) and (lm.L[:, 0] == [i % 2 for i in range(N_ROWS)]).all()


def test_reimporting_the_same_file_is_a_no_op_that_reads_no_rows(
        project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write_csv(tmp_path / "in.csv", N_ROWS)
    project.import_file(path, label_kind="gold")
    sizes = _count_batches(monkeypatch)
    again = project.import_file(path, label_kind="gold")
    assert again.unchanged and (again.added, again.skipped) == (0, N_ROWS)
    assert sizes == []  # nothing read or written
    # other options are another import; force reads the file again: rows stay idempotent
    other = project.import_file(path, label_kind="model")
    assert not other.unchanged and (other.added, other.skipped) == (0, N_ROWS)
    forced = project.import_file(path, label_kind="gold", force=True)
    assert not forced.unchanged and (forced.added, forced.skipped) == (0, N_ROWS)
    assert project.store.count_items(project.id) == N_ROWS
    # a changed file is read
    with path.open("a", encoding="utf-8") as fh:
        fh.write("r-new,one more comment,ham\n")
    assert project.import_file(path, label_kind="gold").added == 1


def test_duplicate_external_ids_are_found_across_batches(project: Project,
                                                        tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "in.csv", N_ROWS)
    with path.open("a", encoding="utf-8") as fh:
        fh.write("r3,other text under an old id,ham\n")
    with pytest.raises(ImportValidationError) as err:
        project.import_file(path)
    assert "'r3' repeats row 4" in err.value.report.problems[0].problem
    assert project.store.count_items(project.id) == 0


def _labelled_project(project: Project, tmp_path: Path, n: int) -> None:
    project.import_file(_write_csv(tmp_path / "in.csv", n), label_kind="gold")
    lf = project.source("labeling_function", "lf")
    ids = [it.id for it in project.items()]
    from labelloop.core import AnnotationRecord

    project.add_annotations([AnnotationRecord(item_id=i, source_id=lf.id, label=i % 2)
                             for i in ids if i % 3])


@pytest.mark.parametrize("fmt,suffix", [("csv", ".csv"), ("jsonl", ".jsonl"),
                                        ("label-studio", ".json")])
def test_export_reads_pages_from_one_snapshot_never_the_whole_project(
        project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        fmt: str, suffix: str) -> None:
    n, page = 250, 40
    _labelled_project(project, tmp_path, n)
    whole = tmp_path / f"whole{suffix}"
    project.export(whole, format=fmt, page_size=10_000)

    def forbidden(*_: Any, **__: Any) -> None:
        raise AssertionError("the export loaded the whole project")

    monkeypatch.setattr(type(project.store), "export_snapshot", forbidden)
    monkeypatch.setattr(type(project.store), "items", forbidden)
    pages: list[int] = []
    real = project.store.export_stream

    def spy(project_id: int, *, page_size: int = 1000) -> Any:
        assert page_size == page
        ctx = real(project_id, page_size=page_size)

        class Spy:
            def __enter__(self) -> Any:
                stream = ctx.__enter__()
                inner = stream.pages

                def pages_(**kw: Any) -> Any:
                    for p in inner(**kw):
                        pages.append(len(p.items))
                        assert {a.item_id for a in p.annotations} <= {i.id for i in p.items}
                        yield p

                stream.pages = pages_
                return stream

            def __exit__(self, *exc: Any) -> Any:
                return ctx.__exit__(*exc)

        return Spy()

    monkeypatch.setattr(project.store, "export_stream", spy)
    paged = tmp_path / f"paged{suffix}"
    project.export(paged, format=fmt, page_size=page)
    assert pages and max(pages) == page and sum(pages) % n == 0
    assert paged.read_bytes() == whole.read_bytes()


def test_export_round_trips_through_import(project: Project, tmp_path: Path,
                                           db_url: str) -> None:
    _labelled_project(project, tmp_path, 130)
    out = tmp_path / "out.jsonl"
    project.export(out, page_size=17)
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [x["id"] for x in lines] == sorted(x["id"] for x in lines)
    back = Project.create(tmp_path / "back", task="text-classification",
                          labels=["ham", "spam"], db=db_url, name="back")
    try:
        back.import_file(out)
        out2 = tmp_path / "out2.jsonl"
        back.export(out2, page_size=1000)
        strip = [{k: v for k, v in x.items() if k != "id"} for x in lines]
        again = [{k: v for k, v in json.loads(x).items() if k != "id"}
                 for x in out2.read_text(encoding="utf-8").splitlines()]
        assert again == strip
    finally:
        back.close()


def test_cli_import_twice_reads_the_file_once(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from labelloop.cli.app import app

    runner = CliRunner()
    folder = tmp_path / "proj"
    assert runner.invoke(app, ["init", str(folder), "--task", "text-classification",
                               "--labels", "ham,spam"]).exit_code == 0
    path = _write_csv(tmp_path / "in.csv", 50)
    first = runner.invoke(app, ["import", str(path), "-p", str(folder)])
    assert first.exit_code == 0 and "imported 50 new item(s)" in first.output
    again = runner.invoke(app, ["import", str(path), "-p", str(folder)])
    assert again.exit_code == 0 and "imported before" in again.output
    forced = runner.invoke(app, ["import", str(path), "-p", str(folder), "--force"])
    assert forced.exit_code == 0 and "imported 0 new item(s)" in forced.output
    bad = _write_csv(tmp_path / "bad.csv", 60, bad_row=55)
    failed = runner.invoke(app, ["import", str(bad), "-p", str(folder)])
    assert failed.exit_code == 2 and "line 57" in failed.output


def test_the_file_key_does_not_depend_on_set_order(project: Project, tmp_path: Path) -> None:
    from labelloop.io import ImportOptions
    from labelloop.services.project import _file_key

    path = _write_csv(tmp_path / "in.csv", 3)
    a = ImportOptions(label_splits=frozenset({"train", "valid", "test"}))
    b = ImportOptions(label_splits=frozenset({"test", "valid", "train"}))
    assert _file_key(path, "csv", a, None, project.schema) == _file_key(
        path, "csv", b, None, project.schema)
    assert _file_key(path, "csv", a, None, project.schema) != _file_key(
        path, "csv", ImportOptions(), None, project.schema)
