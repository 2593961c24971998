"""The ``--executor`` option and the chunk progress bar shared by the heavy commands."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from labelloop.cli.common import console

ExecutorOption = Annotated[
    str,
    typer.Option(
        help="Where the heavy step runs: local, processes, dask (a local Dask cluster) or "
        "tcp://HOST:PORT (a running Dask scheduler).",
    ),
]
WorkersOption = Annotated[
    int | None,
    typer.Option(help="Workers for processes and dask (default: the number of CPUs).", min=1),
]


@contextmanager
def chunk_progress(what: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar of stored chunks, fed as each chunk finishes on the executor."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("chunks"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(what, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update
