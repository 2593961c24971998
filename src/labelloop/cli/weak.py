"""``labelloop lf apply|analyze`` and ``labelloop label-model fit``: weak supervision."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, get_args

import typer
from rich.markup import escape

from labelloop.cli._exec import ExecutorOption, WorkersOption, chunk_progress
from labelloop.cli.common import ProjectDir, console, open_project
from labelloop.errors import ValidationError
from labelloop.services import span_weak as span_service
from labelloop.services import weak as service

app = typer.Typer()
lf_app = typer.Typer(help="Labeling functions: apply them to a project, analyze their votes.")
label_model_app = typer.Typer(help="Combine every source's votes into one posterior per item.")
app.add_typer(lf_app, name="lf")
app.add_typer(label_model_app, name="label-model")

MAX_FAILURE_LINES = 10


@lf_app.command("apply")
def apply_command(
    lfs_file: Annotated[Path, typer.Argument(help="Python file defining @labeling_function()s.")],
    project: ProjectDir = Path("."),
    split: Annotated[str | None, typer.Option(help="Only items of this split.")] = None,
    timeout: Annotated[
        float | None, typer.Option(help="Seconds one LF may spend on one item.")
    ] = None,
    processes: Annotated[
        int, typer.Option(help="Worker processes (0: as --executor says); same as "
                          "--executor processes --workers N.")
    ] = 0,
    version: Annotated[str, typer.Option(help="Version stored with the LF sources.")] = "",
    executor: ExecutorOption = "local",
    workers: WorkersOption = None,
    chunk_size: Annotated[
        int | None, typer.Option(help="Items per stored chunk (default 5000).", min=1)
    ] = None,
) -> None:
    """Apply labeling functions and store each one's votes as a source.

    Chunks are stored as they finish; an interrupted run started again resumes.

    Example: [bold]labelloop lf apply lfs.py --timeout 2 --executor dask[/]
    """
    if processes < 0:
        raise ValidationError(f"--processes must be >= 0, got {processes}")
    if processes:
        executor, workers = "processes", processes
    lfs = service.load_lfs(lfs_file)
    with open_project(project) as p:
        if p.schema.task_type.has_spans:  # span LFs: every item's spans, stored per LF
            spans = span_service.apply_span_lfs_to_project(
                p, lfs, split=split, executor=executor, n_jobs=workers, version=version)
            found = sum(len(s) for row in spans.spans for s in row)
            console.print(f"applied {len(spans.lf_names)} span labeling function(s) to "
                          f"{len(spans.spans)} item(s): {found} spans, "
                          f"{len(spans.failures)} failure(s)", highlight=False)
            return
    with open_project(project) as p, chunk_progress("applying LFs") as progress:
        res = service.apply_to_project(
            p,
            lfs,
            split=split,
            executor=executor,
            n_jobs=workers,
            timeout=timeout,
            version=version,
            chunk_size=chunk_size,
            progress=progress,
        )
    n, m = res.L.shape
    console.print(
        f"applied {m} labeling function(s) to {n} item(s): {int((res.L != -1).sum())} votes, "
        f"{len(res.failures)} failure(s)",
        highlight=False,
    )
    if res.failures:
        for line in res.report().splitlines()[: MAX_FAILURE_LINES + 1]:
            console.print(line, highlight=False, markup=False)


@lf_app.command("analyze")
def analyze_command(
    project: ProjectDir = Path("."),
    plot: Annotated[
        Path | None, typer.Option(help="Also save a coverage-vs-accuracy PNG here.")
    ] = None,
) -> None:
    """Per-LF polarity, coverage, overlaps, conflicts and, with gold, accuracy (95% CI).

    Example: [bold]labelloop lf analyze -p spam[/]
    """
    with open_project(project) as p:
        summary = service.analyze_project(p, plot=plot)
    text = summary.to_string(float_format=lambda v: f"{v:.3f}")
    console.print(text, highlight=False, markup=False, soft_wrap=True)
    if plot is not None:
        console.print(f"wrote {plot}", highlight=False)


@label_model_app.command("fit")
def fit_command(
    project: ProjectDir = Path("."),
    model: Annotated[
        str,
        typer.Option(
            help="auto (default: chosen by cross-validation on gold, else a rule that falls "
            "back to majority vote), label-model, majority, dawid-skene, one-coin or honeypot."
        ),
    ] = "auto",
    metric: Annotated[
        str, typer.Option(help="What auto maximises: accuracy, f1 (binary) or f1_macro.")
    ] = "accuracy",
    review_below: Annotated[
        float, typer.Option(help="Mark items whose confidence is below this for review.")
    ] = 0.7,
    kinds: Annotated[
        str, typer.Option(help="Source kinds used as columns, comma-separated.")
    ] = ",".join(service.VOTING_KINDS),
) -> None:
    """Fit the label model over stored sources and store its posterior per item.

    Example: [bold]labelloop label-model fit --review-below 0.8[/]
    """
    if metric not in get_args(service.Metric):
        raise ValidationError(f"--metric must be one of {', '.join(get_args(service.Metric))}")
    with open_project(project) as p:
        if p.schema.task_type.has_spans:
            _fit_spans(p, model, kinds, review_below)
            return
        rep = service.fit_label_model(
            p,
            model=model,
            metric=metric,  # type: ignore[arg-type]
            kinds=tuple(x.strip() for x in kinds.split(",") if x.strip()),
            review_below=review_below,
        )
        classes = p.schema.names
    balance = ", ".join(f"{c}={v:.2f}" for c, v in zip(classes, rep.class_balance, strict=True))
    if rep.rule:
        console.print(f"auto: {rep.rule}", highlight=False, markup=False)
    console.print(
        f"fitted {rep.model} on {rep.n_items} item(s) x {len(rep.sources)} source(s) "
        f"({rep.n_gold} gold); class balance {balance}; "
        f"{rep.n_needs_review} item(s) need review",
        highlight=False,
    )
    if rep.guardrail:
        g = rep.guardrail
        console.print(
            f"guardrail on {g['n_labels']} gold item(s): label model {g['label_model']:.3f}, "
            f"majority vote {g['majority_vote']:.3f}"
            + (" -> fell back to majority vote" if rep.fallback else ""),
            highlight=False,
        )
    for w in rep.warnings:
        console.print(f"[yellow]warning:[/] {escape(w)}", highlight=False)


def _fit_spans(p: Any, model: str, kinds: str, review_below: float) -> None:
    """``label-model fit`` on a spans project: the span label model over token tags."""
    bases = {"auto": "dawid-skene", "dawid-skene": "dawid-skene", "majority": "majority"}
    if model not in bases:
        raise ValidationError(f"a spans project fits auto, dawid-skene or majority, not {model!r}")
    rep = span_service.fit_span_label_model(
        p, kinds=tuple(x.strip() for x in kinds.split(",") if x.strip()), base=bases[model],
        review_below=review_below)
    console.print(f"fitted the span label model ({bases[model]}) on {rep.n_items} item(s) x "
                  f"{len(rep.sources)} source(s) ({rep.n_gold} gold): {rep.n_spans} spans; "
                  f"{rep.n_needs_review} item(s) need review", highlight=False)
    if rep.guardrail:
        g = rep.guardrail
        console.print(f"guardrail on {int(g['n_items'])} gold item(s): span F1 "
                      f"{g['label_model']:.3f} vs majority vote {g['majority_vote']:.3f}"
                      + (" -> fell back to majority vote" if rep.fallback else ""),
                      highlight=False)
