"""Shared pieces of the CLI: the console, the project option, error printing."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
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
        err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False, soft_wrap=True)
