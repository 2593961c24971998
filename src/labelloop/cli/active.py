"""``labelloop simulate`` and ``labelloop prioritize``: active learning from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from labelloop.active import STRATEGIES
from labelloop.cli._exec import ExecutorOption, WorkersOption, chunk_progress
from labelloop.cli.common import ProjectDir, console, open_project

if TYPE_CHECKING:
    from labelloop.services.loop_sim import Annotators

app = typer.Typer()


@app.command("simulate")
def simulate_command(
    data: Annotated[Path, typer.Option(help="CSV or JSONL file with texts and gold labels.")],
    gold_column: Annotated[str, typer.Option(help="Column with the gold label (the oracle).")],
    strategy: Annotated[
        list[str] | None,
        typer.Option(help=f"Strategy to compare (repeat the option): {', '.join(STRATEGIES)}."),
    ] = None,
    text_column: Annotated[str, typer.Option(help="Column with the text to embed.")] = "text",
    embeddings: Annotated[
        Path | None,
        typer.Option(
            help="A .npy matrix with one row per data row, instead of embedding the texts."
        ),
    ] = None,
    embedding_model: Annotated[str, typer.Option(help="Embedding model for the texts.")] = "minilm",
    test_size: Annotated[float, typer.Option(help="Share of rows held out for testing.")] = 0.2,
    batch_size: Annotated[int, typer.Option(help="Labels per round.")] = 20,
    budget: Annotated[
        int | None, typer.Option(help="Labels per run (default: whole pool).")
    ] = None,
    seeds: Annotated[int, typer.Option(help="Runs per strategy.")] = 3,
    target: Annotated[float, typer.Option(help="Fraction of full-pool accuracy to reach.")] = 0.99,
    out: Annotated[
        Path | None, typer.Option(help="Folder for learning_curve.md and learning_curve.png.")
    ] = None,
    loop: Annotated[bool, typer.Option(
        "--loop", help="Replay the whole loop (labelloop loop) against random order and "
                       "margin sampling; writes loop.md and loop.png to --out.")] = False,
    lfs: Annotated[Path | None, typer.Option(
        help="--loop: a Python file of labeling functions applied to the pool.")] = None,
    annotator_accuracy: Annotated[list[float] | None, typer.Option(
        help="--loop: a simulated annotator's accuracy (repeat for up to 3); "
             "default: gold answers.")] = None,
    overlap: Annotated[int, typer.Option(help="--loop: answers per item.")] = 1,
    target_precision: Annotated[float, typer.Option(
        help="--loop: precision auto-accepted labels must reach.")] = 0.95,
    expert_accuracy: Annotated[float | None, typer.Option(
        help="--loop: add an expert of this accuracy and the method loop-routed, which "
             "routes hard items to the expert (routing by difficulty).")] = None,
    hard_below: Annotated[float, typer.Option(
        help="--loop: routing sends open items whose posterior is below this to the "
             "expert.")] = 0.8,
    price_per_label: Annotated[float | None, typer.Option(
        help="--loop: cost of one annotator answer (adds a cost column).")] = None,
    price_per_expert_label: Annotated[float | None, typer.Option(
        help="--loop: cost of one expert answer (default: --price-per-label).")] = None,
) -> None:
    """Replay labeling with the gold column as the oracle human and compare strategies.

    Example: [bold]labelloop simulate --data news.csv --gold-column topic
    --strategy random --strategy hybrid --out results[/]; with [bold]--loop[/] the whole
    closed loop against random order and margin sampling.
    """
    if loop:
        from labelloop.services.loop_sim import Annotators

        people = Annotators(tuple(annotator_accuracy or ()), overlap,
                            expert_accuracy=expert_accuracy, hard_below=hard_below)
        prices = None if price_per_label is None else (
            price_per_label,
            price_per_label if price_per_expert_label is None else price_per_expert_label)
        _simulate_loop(data, gold_column, text_column, lfs, embeddings, embedding_model,
                       test_size, batch_size, budget, seeds, people, target_precision,
                       prices, out)
        return
    from labelloop.services.simulate import simulate_file

    rep = simulate_file(
        data, gold_column=gold_column, strategies=strategy or ["random", "hybrid"],
        text_column=text_column, embeddings=embeddings, embedding_model=embedding_model,
        test_size=test_size, batch_size=batch_size, budget=budget, seeds=seeds, target=target,
    )
    console.print(rep.summary, highlight=False)
    console.print(rep.table, highlight=False, markup=False)
    if out is not None:
        md, png = rep.write(out, title=data.name)
        console.print(f"wrote {md} and {png}")


def _simulate_loop(data: Path, gold_column: str, text_column: str, lfs: Path | None,
                   embeddings: Path | None, embedding_model: str, test_size: float,
                   batch_size: int, budget: int | None, seeds: int, people: Annotators,
                   target_precision: float, prices: tuple[float, float] | None,
                   out: Path | None) -> None:
    from labelloop.services.loop_sim import simulate_loop_file

    sim = simulate_loop_file(
        data, gold_column=gold_column, text_column=text_column, lfs=lfs,
        embeddings=embeddings, embedding_model=embedding_model, test_size=test_size,
        batch_size=batch_size, budget=budget or 300, seeds=seeds, annotators=people,
        target_precision=target_precision, prices=prices,
    )
    table = sim.to_markdown()
    console.print(table, highlight=False, markup=False)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "loop.md").write_text(table + "\n", encoding="utf-8")
        png = sim.plot(out / "loop.png", title=data.name)
        console.print(f"wrote {out / 'loop.md'}" + (f" and {png}" if png else
                                                     " (no PNG: matplotlib is missing)"))


@app.command()
def prioritize(
    project: ProjectDir = Path("."),
    embedding_model: Annotated[
        str, typer.Option(help="Name the item embeddings were cached under by pre-labeling.")
    ] = "minilm",
    strategy: Annotated[str, typer.Option(help="Query strategy.")] = "hybrid",
    batch_size: Annotated[
        int | None, typer.Option(help="Items ranked on top (default: the project's requeue_every).")
    ] = None,
    executor: ExecutorOption = "local",
    workers: WorkersOption = None,
) -> None:
    """Retrain on the embeddings and reorder the annotation queue by priority.

    Example: [bold]labelloop prioritize -p spam[/]
    """
    from labelloop.services.active import refresh_priorities

    with open_project(project) as p, chunk_progress("scoring") as on_chunk:
        rep = refresh_priorities(
            p, embedding_model=embedding_model, strategy=strategy, batch_size=batch_size,
            executor=executor, n_workers=workers, on_chunk=on_chunk,
        )
    console.print(
        f"scored {rep.n_scored} of {rep.n_items} item(s) with {rep.strategy} "
        f"({rep.n_human_labeled} human-labeled, {rep.n_weak_labeled} label-model-labeled"
        f"{', no model yet' if not rep.model_fitted else ''}"
        f"{f', {rep.missing_embeddings} without embeddings' if rep.missing_embeddings else ''})"
    )
