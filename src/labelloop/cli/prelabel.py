"""``labelloop prelabel`` and ``labelloop models``: draft labels with a model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from labelloop.cli._exec import ExecutorOption, WorkersOption, chunk_progress
from labelloop.cli.common import ProjectDir, console, open_project

app = typer.Typer()


@app.command()
def prelabel(
    project: ProjectDir = Path("."),
    model: Annotated[str, typer.Option(
        help="Built-in model (see 'labelloop models'), hub name or local path.")] = "minilm",
    target_precision: Annotated[float | None, typer.Option(
        min=0.5, max=0.999,
        help="Precision auto-accepted drafts must reach (default: the project setting).")] = None,
    per_class: Annotated[bool, typer.Option(
        "--per-class/--one-threshold",
        help="One auto-accept threshold per class (each class reaches the target) or one "
             "for all classes (more auto-accepted; the target holds overall).")] = True,
    executor: ExecutorOption = "local",
    workers: WorkersOption = None,
    chunk_size: Annotated[int | None, typer.Option(
        min=1, help="Items per chunk sent to the executor (default 5000).")] = None,
) -> None:
    """Draft a label (or boxes) with a confidence for every item not yet drafted by this model.

    Embeddings and detections run in chunks on --executor (a model loaded once per worker);
    finished chunks of embeddings are cached, so an interrupted run resumes.

    Example: [bold]labelloop prelabel -p spam --model minilm --target-precision 0.95[/]
    """
    from labelloop.services.prelabel import prelabel_project

    with open_project(project) as p, chunk_progress("pre-labeling") as on_chunk:
        rep = prelabel_project(p, model=model, target_precision=target_precision,
                               per_class=per_class, progress=executor == "local",
                               executor=executor, n_workers=workers, chunk_size=chunk_size,
                               on_chunk=on_chunk)
    console.print(
        f"{rep.model} ({rep.version}): drafted {rep.n_drafted} of {rep.n_items} item(s), "
        f"{rep.n_skipped} already drafted, {rep.n_failed} failed; "
        f"{rep.n_auto_accepted} auto-accepted, {rep.n_needs_review} need review",
        highlight=False,
    )
    if rep.calibration is not None:
        cal = rep.calibration
        if rep.coverage > 0:
            console.print(
                f"calibrated on {rep.n_human_checked} human-checked item(s): "
                f"{rep.coverage:.0%} of them auto-acceptable at precision >= "
                f"{cal['target_precision']:.2f} (Clopper-Pearson, delta {cal['delta']})",
                highlight=False,
            )
        else:
            console.print(
                f"not enough human-checked items ({rep.n_human_checked}) to auto-accept at "
                f"precision {cal['target_precision']:.2f}: every draft needs review",
                highlight=False,
            )


@app.command()
def models() -> None:
    """List the built-in pre-labeling models and whether each is installed.

    Example: [bold]labelloop models[/]
    """
    from labelloop.prelabel.registry import list_models

    table = Table("name", "task", "installed", "description", title="Built-in models")
    for m in list_models():
        table.add_row(str(m["name"]), str(m["task"]), "yes" if m["installed"] else "no",
                      str(m["description"]))
    console.print(table)
    console.print("Any other --model is a hub name or local path: a transformers NLI model "
                  "(text), a DETR-style model or a YOLO .onnx file (boxes).", highlight=False)
