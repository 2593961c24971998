"""Imports that run in the background of the server, with their progress and report.

An upload from the dashboard is imported in a thread of the server process while the page
polls :meth:`ImportJobs.get` for the rows read so far. An import is all or nothing
(:meth:`labelloop.services.project.Project.import_file`): a job ends ``done`` with what
was stored, or ``failed`` with nothing stored and, for bad rows, one problem per row (row
number, column, what is wrong, how to fix it). Jobs live in memory: a restart forgets
them (the import itself is one transaction, so it is stored whole or not at all).
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from labelloop.errors import ImportValidationError, LabelloopError, NotFoundError, RowProblem
from labelloop.services.project import Project
from labelloop.storage import ImportResult

__all__ = ["ImportJob", "ImportJobs"]

State = Literal["running", "done", "failed"]
log = logging.getLogger(__name__)


@dataclass
class ImportJob:
    """One background import: its state, the rows read so far and how it ended."""

    id: str
    project_id: int
    file_name: str
    size: int
    state: State = "running"
    rows: int = 0
    read_bytes: int = 0
    result: ImportResult | None = None
    error: str | None = None
    problems: list[RowProblem] = field(default_factory=list)

    @property
    def percent(self) -> int:
        """How much of the file was read, 0-100 (100 once it ended)."""
        if self.state != "running":
            return 100
        return min(99, int(100 * self.read_bytes / self.size)) if self.size else 0


class ImportJobs:
    """The background imports of one server, by id (the newest ``keep`` are kept).

    Parameters
    ----------
    keep:
        Finished jobs to remember (the oldest finished ones are forgotten first).
    """

    def __init__(self, keep: int = 100) -> None:
        self.keep = keep
        self._jobs: OrderedDict[str, ImportJob] = OrderedDict()
        self._lock = threading.Lock()
        self.threads: list[threading.Thread] = []

    def start(
        self,
        service: Project,
        path: Path,
        *,
        file_name: str,
        scrub: Callable[[LabelloopError], None] | None = None,
        cleanup: Callable[[], None] | None = None,
        **options: Any,
    ) -> ImportJob:
        """Import ``path`` into the project in a new thread; return its job at once.

        ``scrub`` may rewrite an error before it is kept (e.g. drop a temporary folder
        from its text); ``cleanup`` runs when the import ended, however it ended.
        """
        size = path.stat().st_size if path.is_file() else 0
        job = ImportJob(secrets.token_urlsafe(12), service.id, file_name, size)

        def rows(n: int) -> None:
            job.rows = n

        def read(position: int) -> None:
            job.read_bytes = position

        def run() -> None:
            try:
                job.result = service.import_file(path, progress=read, rows_progress=rows, **options)
                job.state = "done"
            except LabelloopError as exc:
                if scrub is not None:
                    scrub(exc)
                if isinstance(exc, ImportValidationError):
                    job.problems = [RowProblem(**d) for d in exc.details or []]
                job.error, job.state = exc.message, "failed"
            except Exception as exc:  # reported on the page and logged, not lost in a thread
                log.exception("import %s of %s failed", job.id, file_name)
                job.error, job.state = f"the import failed: {type(exc).__name__}", "failed"
            finally:
                if cleanup is not None:
                    cleanup()

        with self._lock:
            self._jobs[job.id] = job
            self._forget()
        thread = threading.Thread(target=run, name=f"import-{job.id}", daemon=True)
        self.threads.append(thread)
        thread.start()
        return job

    def get(self, project_id: int, job_id: str) -> ImportJob:
        """The job of this project with this id.

        Raises
        ------
        NotFoundError
            For an unknown (or forgotten) job, or one of another project.
        """
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or job.project_id != project_id:
            raise NotFoundError(
                f"import {job_id!r} not found (finished imports are "
                "forgotten when the server restarts)"
            )
        return job

    def _forget(self) -> None:
        done = [k for k, j in self._jobs.items() if j.state != "running"]
        for key in done[: max(0, len(self._jobs) - self.keep)]:
            del self._jobs[key]
        self.threads = [t for t in self.threads if t.is_alive()]
