"""``labelloop simulate`` and ``labelloop prioritize``: active learning from the command line."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import numpy.typing as npt
import typer

from labelloop.active import STRATEGIES, simulate
from labelloop.cli.common import ProjectDir, console, open_project
from labelloop.errors import NotFoundError, ValidationError

app = typer.Typer()


def read_table(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV or JSONL file as dicts."""
    if not path.is_file():
        raise NotFoundError(f"data file {str(path)!r} does not exist")
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        with path.open(encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    raise ValidationError(f"{path.name}: expected a .csv or .jsonl file")


def _column(rows: list[dict[str, str]], name: str, what: str) -> list[str]:
    if not rows:
        raise ValidationError("the data file has no rows")
    if name not in rows[0]:
        raise ValidationError(
            f"no {what} column {name!r}; the columns are {', '.join(map(str, rows[0]))} "
            f"(choose one with --{what}-column)"
        )
    return [str(r[name]) for r in rows]


def _features(
    rows: list[dict[str, str]], text_column: str, embeddings: Path | None, embedding_model: str
) -> npt.NDArray[Any]:
    if embeddings is not None:
        if not embeddings.is_file():
            raise NotFoundError(f"embeddings file {str(embeddings)!r} does not exist")
        X: npt.NDArray[Any] = np.load(embeddings)
        if X.ndim != 2 or X.shape[0] != len(rows):
            raise ValidationError(
                f"embeddings must be ({len(rows)}, d), one row per data row; got {X.shape}"
            )
        return X
    from labelloop.prelabel.embeddings import TextEmbedder

    texts = _column(rows, text_column, "text")
    return TextEmbedder(embedding_model).embed(texts, progress=True)


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
) -> None:
    """Replay labeling with the gold column as the oracle human and compare strategies.

    Example: [bold]labelloop simulate --data news.csv --gold-column topic
    --strategy random --strategy hybrid --out results[/]
    """
    names = strategy or ["random", "hybrid"]
    unknown = [s for s in names if s not in STRATEGIES]
    if unknown:
        raise ValidationError(
            f"unknown strategy {unknown[0]!r}; choose from {', '.join(STRATEGIES)}"
        )
    if not 0 < test_size < 1:
        raise ValidationError(f"--test-size must be between 0 and 1, got {test_size}")
    rows = read_table(data)
    gold = _column(rows, gold_column, "gold")
    classes, y = np.unique(gold, return_inverse=True)
    if classes.size < 2:
        raise ValidationError(f"the gold column {gold_column!r} holds a single class")
    X = _features(rows, text_column, embeddings, embedding_model)
    order = np.random.default_rng(0).permutation(len(rows))
    n_test = max(1, round(test_size * len(rows)))
    test, pool = order[:n_test], order[n_test:]
    res = simulate(
        X[pool],
        y[pool],
        X_test=X[test],
        y_test=y[test],
        strategies=names,
        batch_size=batch_size,
        budget=budget,
        seeds=range(seeds),
        target=target,
    )
    summary = (
        f"{len(pool)} pool / {len(test)} test rows, {classes.size} classes; "
        f"full-pool accuracy {res.full_accuracy:.4f}, target {res.target_accuracy:.4f}"
    )
    table = res.to_markdown()
    console.print(summary, highlight=False)
    console.print(table, highlight=False, markup=False)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "learning_curve.md").write_text(f"{summary}\n\n{table}\n", encoding="utf-8")
        res.plot(out / "learning_curve.png", title=data.name)
        console.print(f"wrote {out / 'learning_curve.md'} and {out / 'learning_curve.png'}")


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
) -> None:
    """Retrain on the embeddings and reorder the annotation queue by priority.

    Example: [bold]labelloop prioritize -p spam[/]
    """
    from labelloop.services.active import refresh_priorities

    with open_project(project) as p:
        rep = refresh_priorities(
            p, embedding_model=embedding_model, strategy=strategy, batch_size=batch_size
        )
    console.print(
        f"scored {rep.n_scored} of {rep.n_items} item(s) with {rep.strategy} "
        f"({rep.n_human_labeled} human-labeled, {rep.n_weak_labeled} label-model-labeled"
        f"{', no model yet' if not rep.model_fitted else ''}"
        f"{f', {rep.missing_embeddings} without embeddings' if rep.missing_embeddings else ''})"
    )
