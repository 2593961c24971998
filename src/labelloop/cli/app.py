"""The ``labelloop`` command line: thin commands over the services."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from labelloop import __version__
from labelloop.cli.active import app as active_app
from labelloop.cli.common import (
    LabelloopGroup,
    ProjectDir,
    console,
    import_progress,
    open_project,
)
from labelloop.cli.loop import app as loop_app
from labelloop.cli.prelabel import app as prelabel_app
from labelloop.cli.quality import app as quality_app
from labelloop.cli.server import serve, user_app
from labelloop.cli.weak import app as weak_app
from labelloop.core.tasks import TASK_TYPES
from labelloop.errors import ValidationError
from labelloop.io import EXPORT_FORMATS, IMPORT_FORMATS
from labelloop.services.project import Project, ProjectStatus

app = typer.Typer(
    name="labelloop",
    help="AI-assisted data labeling: models, rules and people label together.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    cls=LabelloopGroup,
)

def _version(value: bool) -> None:
    if value:
        console.print(f"labelloop {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """AI-assisted data labeling: models, rules and people label together."""


@app.command()
def init(
    folder: Annotated[Path, typer.Argument(help="Folder for the new project.")],
    task: Annotated[str | None, typer.Option(
        help=f"{', '.join(TASK_TYPES[:-1])} or {TASK_TYPES[-1]}."
    )] = None,
    labels: Annotated[str | None, typer.Option(help="Class names, comma-separated.")] = None,
    schema: Annotated[Path | None, typer.Option(
        help="YAML file with task and classes (name + description).")] = None,
    db: Annotated[str | None, typer.Option(
        help="Database URL (default: SQLite inside the folder), e.g. "
             "postgresql+psycopg://user@host/db.")] = None,
    name: Annotated[str | None, typer.Option(help="Project name (default: folder name).")] = None,
    overlap: Annotated[int, typer.Option(help="Annotators per item.")] = 1,
    honeypot_rate: Annotated[float, typer.Option(help="Share of gold items in queues.")] = 0.0,
) -> None:
    """Create a labeling project.

    Example: [bold]labelloop init spam --task text-classification --labels ham,spam[/]
    """
    names = [x.strip() for x in labels.split(",")] if labels else None
    p = Project.create(folder, task=task, labels=names, schema=schema, db=db, name=name,
                       settings={"overlap": overlap, "honeypot_rate": honeypot_rate})
    with p:
        console.print(f"created project [bold]{p.name}[/] ({p.schema.task}: "
                      f"{', '.join(p.schema.names)}) in {folder}")


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="CSV, JSONL, Label Studio JSON or COCO file.")],
    project: ProjectDir = Path("."),
    format: Annotated[str | None, typer.Option(
        help=f"One of {', '.join(IMPORT_FORMATS)} (default: from the extension).")] = None,
    text_column: Annotated[str | None, typer.Option(help="Column holding the text.")] = None,
    image_column: Annotated[str | None, typer.Option(help="Column holding the image.")] = None,
    label_column: Annotated[str | None, typer.Option(
        help="Column holding labels ('' for none; default: label/class/category).")] = None,
    label_kind: Annotated[str, typer.Option(
        help="Labels in the file come from: human, gold or model.")] = "human",
    label_source: Annotated[str | None, typer.Option(
        help="Source name for the labels (default: import:FILENAME).")] = None,
    label_splits: Annotated[str | None, typer.Option(
        help="Only keep labels of rows in these splits, comma-separated.")] = None,
    split: Annotated[str | None, typer.Option(help="Split for every row.")] = None,
    image_root: Annotated[Path | None, typer.Option(
        help="Folder that COCO file names are relative to.")] = None,
    force: Annotated[bool, typer.Option(
        help="Read the file even if it was imported before with the same options.")] = False,
) -> None:
    """Import items (and any labels) from a file, all or nothing.

    The file is read and stored in batches (memory stays small) inside one transaction;
    a repeated import of the same file is recognised by its hash and skipped.

    Example: [bold]labelloop import comments.csv -p spam --label-column CLASS[/]
    """
    options: dict[str, Any] = {
        "text_column": text_column, "image_column": image_column,
        "label_column": label_column, "label_kind": label_kind, "label_source": label_source,
        "split": split,
    }
    if label_splits:
        options["label_splits"] = frozenset(s.strip() for s in label_splits.split(","))
    with open_project(project) as p, import_progress(file) as progress:
        res = p.import_file(file, format=format, image_root=image_root, force=force,
                            progress=progress, **options)
    if res.unchanged:
        console.print(f"{file.name} was imported before with these options: nothing to do "
                      f"({res.skipped} row(s); --force reads it again)")
        return
    console.print(f"imported {res.added} new item(s) from {file.name} "
                  f"({res.skipped} already present, {res.annotations} label(s))")


@app.command()
def export(
    out: Annotated[Path, typer.Argument(help="File (or folder for hf) to write.")],
    project: ProjectDir = Path("."),
    format: Annotated[str | None, typer.Option(
        help=f"One of {', '.join(EXPORT_FORMATS)} (default: from the extension).")] = None,
) -> None:
    """Export items with their labels from one consistent snapshot.

    Example: [bold]labelloop export labels.json -p spam --format label-studio[/]
    """
    with open_project(project) as p:
        path = p.export(out, format=format)
    console.print(f"exported to {path}")


@app.command()
def status(
    project: ProjectDir = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show counts of items by state and split, and annotations per source.

    Example: [bold]labelloop status -p spam[/]
    """
    from labelloop.services.llm import llm_runs

    with open_project(project) as p:
        st = p.status()
        runs = llm_runs(p, limit=10)
    if as_json:
        console.print_json(json.dumps({**st.to_dict(),
                                       "llm_runs": [r.to_dict() for r in runs]}))
        return
    _print_status(st)
    if runs:
        table = Table("finished", "source", "sent", "cached", "tokens", "cost $", "failed",
                      "budget stop", title="LLM runs (newest first)")
        for r in runs:
            table.add_row(r.finished_at.strftime("%m-%d %H:%M"), f"{r.kind} {r.name}",
                          str(r.requests), str(r.cached),
                          str(r.prompt_tokens + r.completion_tokens), f"{r.cost:.4f}",
                          str(r.errors), r.budget_stop or "")
        console.print(table)


def _print_status(st: ProjectStatus) -> None:
    console.print(f"[bold]{st.project}[/] · {st.task} · classes: "
                  f"{', '.join(st.classes)} · {st.items} items")
    states = Table("state", "items", title="Items by state")
    for k, v in st.states.items():
        states.add_row(k, str(v))
    splits = Table("split", "items", title="Items by split")
    for k, v in sorted(st.splits.items()):
        splits.add_row(k, str(v))
    sources = Table("kind", "name", "version", "annotations", "needs review",
                    title="Annotations by source")
    for s in st.sources:
        sources.add_row(s.kind, s.name, s.version, str(s.annotations), str(s.needs_review))
    console.print(states, splits, sources)


@app.command()
def quickstart(
    folder: Annotated[Path, typer.Argument(help="Folder for the example project.")] = Path(
        "labelloop-example"),
    models: Annotated[bool, typer.Option(
        help="Draft with the zero-shot MiniLM model and rank the queue by active learning "
             "(needs labelloop\\[models,ml]).")] = True,
    example: Annotated[str, typer.Option(
        help="'spam': YouTube comments, spam or ham; 'spans': named entities (PER, ORG, "
             "LOC) in short sentences, pre-labelled by span labeling functions.")] = "spam",
) -> None:
    """Run the whole loop on a shipped example (YouTube spam comments, or named entities).

    Import, labeling functions, zero-shot drafts, label model, active-learning queue.
    Reference labels of the valid and test splits are stored as gold. With
    [bold]--example spans[/]: sentences, span labeling functions and the span label model.

    Example: [bold]labelloop quickstart my-project && labelloop serve my-project[/]
    """
    from labelloop.services.quickstart import run_quickstart, run_span_quickstart

    if example not in ("spam", "spans"):
        raise ValidationError(f"unknown example {example!r}; choose 'spam' or 'spans'")
    project, _ = (run_span_quickstart(folder, say=console.print) if example == "spans"
                  else run_quickstart(folder, models=models, say=console.print))
    with project:
        _print_status(project.status())
    console.print(f"next: [bold]labelloop serve {folder}[/] and label in the browser")


app.command()(serve)
app.add_typer(user_app)
app.add_typer(weak_app)
app.add_typer(active_app)
app.add_typer(loop_app)
app.add_typer(prelabel_app)
app.add_typer(quality_app, name="quality")


def main() -> None:
    """Entry point of the ``labelloop`` console script."""
    app()
