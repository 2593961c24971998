"""``labelloop loop``: run rounds of the closed loop on a project."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from labelloop.active import STRATEGIES
from labelloop.cli.common import console, open_project

if TYPE_CHECKING:
    from labelloop.services.loop import RoundReport
    from labelloop.services.project import Project

app = typer.Typer()


@app.command("loop")
def loop_command(
    project_dir: Annotated[Path, typer.Argument(
        help="Project folder (holds labelloop.yaml).", show_default=False)] = Path("."),
    watch: Annotated[bool, typer.Option(
        help="Keep running: a round whenever the project's loop_every new human answers "
             "arrived, until interrupted (Ctrl-C).")] = False,
    embedding_model: Annotated[str, typer.Option(
        help="Embedding model, or the name precomputed embeddings are cached under.")
    ] = "minilm",
    strategy: Annotated[str, typer.Option(
        help=f"Query strategy ranking the queue: {', '.join(STRATEGIES)}.")] = "hybrid",
    batch_size: Annotated[int | None, typer.Option(
        help="Items ranked on top per round (default: the project's loop_every).")] = None,
    calibration_share: Annotated[float, typer.Option(
        help="Share of each batch drawn at random to calibrate auto-accept.")] = 0.2,
    poll: Annotated[float, typer.Option(help="--watch: seconds between checks.")] = 5.0,
) -> None:
    """One round of the loop: retrain the pre-labeler, refit the label model, recalibrate,
    auto-accept at the target precision, re-rank the queue (recorded, all or nothing).

    Example: [bold]labelloop loop spam[/] or [bold]labelloop loop spam --watch[/]
    """
    from labelloop.services.loop import LoopConfig, round_due, run_round

    cfg = LoopConfig(embedding_model=embedding_model, strategy=strategy,
                     batch_size=batch_size, calibration_share=calibration_share)
    cfg.check()
    with open_project(project_dir) as p:
        if not watch:
            _print(run_round(p, config=cfg, trigger="cli"), p)
            return
        console.print(f"watching {p.name}: a round every {p.settings.loop_every or 1} new "
                      "human answer(s); Ctrl-C stops")
        try:
            while True:
                if round_due(p):
                    _print(run_round(p, config=cfg, trigger="watch"), p)
                time.sleep(poll)
        except KeyboardInterrupt:
            console.print("stopped")


def _print(rep: RoundReport, p: Project) -> None:
    from labelloop.services.spending import spending

    r, c = rep.round, rep.changes
    cal = c["calibration"]
    bound = [b for b in cal["lower_bounds"] if b is not None]
    console.print(
        f"round {r.id} done in {r.seconds or 0:.1f}s"
        + (f" (re-runs interrupted round {r.rerun_of})" if r.rerun_of else "")
        + f": {c['n_items']} items, {c['n_human_labelled']} human-labelled, "
        f"{c['n_auto_accepted']} auto-accepted (+{c['n_newly_accepted']}, "
        f"-{c['n_no_longer_accepted']}), {c['n_needs_review']} need review; "
        f"calibrated on {c['n_calibration_checked']} random checks"
        + (f", precision >= {min(bound):.3f} at {cal['target_precision']}" if bound else "")
        + f"; {len(rep.queue)} items queued on top"
        + (f"; {c['n_hard']} hard item(s) routed to experts"
           if c.get("routing") == "difficulty" else ""), highlight=False)
    sp = spending(p.status(), p.settings)
    console.print(
        f"spent {sp.answers} human answer(s)"
        + (f" ({sp.expert_answers} by experts)" if sp.expert_answers else "")
        + f", {100 * sp.share:.1f}% of labeling every item by hand ({sp.by_hand})"
        + (f"; {sp.cost:.2f} {sp.currency} vs {sp.cost_by_hand:.2f} by hand"
           if sp.cost is not None and sp.cost_by_hand is not None else ""), highlight=False)
