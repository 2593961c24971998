"""Shared pieces of the CLI: the console, the project option, error printing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from typer.core import TyperGroup

from labelloop.errors import ImportValidationError, LabelloopError, UserInputError
from labelloop.services.project import Project

if TYPE_CHECKING:
    # TyperGroup.invoke takes the click Context that typer vendors (typer.Context subclasses it)
    from typer._click import Context

console = Console()
err_console = Console(stderr=True)

ProjectDir = Annotated[
    Path,
    typer.Option(
        "--project", "-p", envvar="LABELLOOP_PROJECT",
        help="Project folder (holds labelloop.yaml).", show_default=True,
    ),
]

MAX_REPORTED_PROBLEMS = 20
NESTED_TOO_DEEP = ("the input is nested too deeply to read (thousands of levels of lists or "
                   "objects); flatten the file and retry")


class LabelloopGroup(TyperGroup):
    """Command group that turns labelloop's errors into one line and an exit code."""

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except LabelloopError as exc:
            report_error(exc)
            raise typer.Exit(exc.exit_code) from None
        except RecursionError:  # json, yaml: a file nested thousands of levels deep
            report_error(UserInputError(NESTED_TOO_DEEP))
            raise typer.Exit(2) from None


def open_project(folder: Path) -> Project:
    """Open the project in ``folder`` (errors become one-line CLI errors)."""
    return Project.open(folder)


@contextmanager
def import_progress(file: Path) -> Iterator[Callable[[int], None]]:
    """A progress bar over the bytes of ``file`` (on stderr; hidden when it is no
    terminal); yields the callback an import calls with the bytes read so far.

    The bar is redrawn by that callback, never by a refresh thread: the import may fork a
    reader process, which it does only from a single-threaded process
    (:func:`~labelloop.io.read_ahead.can_read_ahead`)."""
    total = file.stat().st_size if file.is_file() else None
    columns = (TextColumn("importing {task.description}"), BarColumn(), DownloadColumn(),
               TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=True, auto_refresh=False) as bar:
        task = bar.add_task(file.name, total=total)
        yield lambda done: bar.update(task, completed=done, refresh=True)


def report_error(exc: LabelloopError) -> None:
    """Print a user error on one line (plus a row report for imports)."""
    if isinstance(exc, ImportValidationError):
        problems = exc.report.problems
        err_console.print(f"[bold red]error:[/] nothing imported: {len(problems)} problem(s)",
                          highlight=False, soft_wrap=True)
        for p in problems[:MAX_REPORTED_PROBLEMS]:
            err_console.print(f"  {p}", highlight=False, markup=False, soft_wrap=True)
        if len(problems) > MAX_REPORTED_PROBLEMS:
            err_console.print(f"  ... and {len(problems) - MAX_REPORTED_PROBLEMS} more")
    else:
        # escaped: "[hf]" in "pip install 'labelloop[hf]'" is not a style tag
        err_console.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False,
                          soft_wrap=True)
