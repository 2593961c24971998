"""``labelloop quality report``: agreement, annotator scorecards and checks as one HTML page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from labelloop.cli.common import ProjectDir, console, open_project
from labelloop.services import quality as service

app = typer.Typer(help="Quality control: agreement, honeypots, scorecards, checks.")


@app.command("report")
def report_command(
    project: ProjectDir = Path("."),
    out: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")] = Path(
        "quality_report.html"
    ),
    pause_below: Annotated[
        float,
        typer.Option(
            help="Honeypot accuracy bar: annotators confidently below it are listed for pausing."
        ),
    ] = 0.7,
    min_honeypots: Annotated[
        int, typer.Option(help="Honeypot answers needed before an annotator can be paused.")
    ] = 10,
) -> None:
    """Write an HTML quality report and print a summary.

    Example: [bold]labelloop quality report -o report.html[/]
    """
    with open_project(project) as p:
        res = service.write_quality_report(
            p, out, pause_below=pause_below, min_honeypots=min_honeypots
        )
    s = res.report.summary
    low, high = s["fleiss_kappa_ci"]
    console.print(
        f"{s['labels']} labels by {s['annotators']} annotators on {s['items']} items; "
        f"Fleiss' kappa {s['fleiss_kappa']:.3f} (95% CI {low:.3f}-{high:.3f}), "
        f"Krippendorff's alpha {s['krippendorff_alpha']:.3f}; "
        f"{s['flagged_labels']} labels flagged for review",
        highlight=False,
    )
    for d in res.pauses:
        console.print(f"pause {d.annotator}: {d.reason}", highlight=False, markup=False)
    console.print(f"wrote {res.path}", highlight=False)
