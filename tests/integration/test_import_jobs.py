"""Background imports (the dashboard's): rows read are reported as they go, a clean file
ends with what was stored, a file with bad rows ends with one problem per row and nothing
stored, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from labelloop.core.schema import LabelSchema
from labelloop.errors import ImportValidationError, NotFoundError
from labelloop.services.import_jobs import ImportJob, ImportJobs
from labelloop.services.project import Project
from labelloop.storage import Store

SCHEMA = LabelSchema.from_labels("text-classification", ["ham", "spam"])
ROWS = 12_000  # several reader batches


@pytest.fixture
def project(db_url: str) -> Project:
    store = Store(db_url)
    yield Project(store, store.create_project("imports", SCHEMA))
    store.close()


def _csv(path: Path, bad: dict[int, str]) -> Path:
    lines = ["text,label"] + [
        f"comment {i},{bad.get(i, 'ham' if i % 2 else 'spam')}" for i in range(ROWS)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _finish(jobs: ImportJobs, job: ImportJob) -> ImportJob:
    for thread in jobs.threads:
        thread.join(120)
    return jobs.get(job.project_id, job.id)


def test_rows_read_are_reported_batch_by_batch(project: Project, tmp_path: Path) -> None:
    seen: list[int] = []
    path = _csv(tmp_path / "bad.csv", {3: "eggs"})
    with pytest.raises(ImportValidationError):
        project.import_file(path, label_column="label", rows_progress=seen.append)
    assert seen == sorted(seen) and len(seen) > 1 and seen[-1] == ROWS


def test_a_clean_file_reports_rows_read_and_what_it_stored(
    project: Project, tmp_path: Path
) -> None:
    jobs = ImportJobs()
    path = _csv(tmp_path / "ok.csv", {})
    cleaned: list[bool] = []
    job = jobs.start(
        project,
        path,
        file_name="ok.csv",
        label_column="label",
        cleanup=lambda: cleaned.append(True),
    )
    done = _finish(jobs, job)
    assert done.state == "done" and done.error is None and cleaned == [True]
    assert done.rows == ROWS and done.percent == 100
    assert done.result is not None and done.result.added == ROWS
    assert project.store.status(project.id).items == ROWS
    with pytest.raises(NotFoundError):
        jobs.get(project.id + 1, job.id)  # another project's id


def test_bad_rows_are_each_reported_and_nothing_is_stored(project: Project, tmp_path: Path) -> None:
    jobs = ImportJobs()
    path = _csv(tmp_path / "bad.csv", {5: "eggs", 11_000: "bacon"})
    done = _finish(jobs, jobs.start(project, path, file_name="bad.csv", label_column="label"))
    assert done.state == "failed" and done.result is None
    assert done.rows == ROWS  # the whole file was read to report every bad row
    assert [(p.line, p.field) for p in done.problems] == [(7, "label"), (11_002, "label")]
    assert all("eggs" in p.problem or "bacon" in p.problem for p in done.problems)
    assert all(p.fix for p in done.problems)
    assert "nothing imported" in (done.error or "")
    assert project.store.status(project.id).items == 0
