"""The ``labelloop simulate`` use case: replay labeling from a file with gold labels.

The gold column plays the human oracle; the rows are embedded (or read from a ``.npy``
matrix), split into a pool and a test set, and every strategy is replayed on the pool
with :func:`labelloop.active.simulate`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from labelloop.active import STRATEGIES, SimulationResult, simulate
from labelloop.errors import NotFoundError, ValidationError


@dataclass(frozen=True)
class SimulationReport:
    """A finished simulation: the result, a one-line summary and the markdown table."""

    result: SimulationResult
    summary: str
    table: str

    def write(self, out: Path, *, title: str | None = None) -> tuple[Path, Path]:
        """Write ``learning_curve.md`` and ``learning_curve.png`` into folder ``out``."""
        out.mkdir(parents=True, exist_ok=True)
        md = out / "learning_curve.md"
        md.write_text(f"{self.summary}\n\n{self.table}\n", encoding="utf-8")
        return md, self.result.plot(out / "learning_curve.png", title=title)


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


def simulate_file(
    data: Path,
    *,
    gold_column: str,
    strategies: Sequence[str] = ("random", "hybrid"),
    text_column: str = "text",
    embeddings: Path | None = None,
    embedding_model: str = "minilm",
    test_size: float = 0.2,
    batch_size: int = 20,
    budget: int | None = None,
    seeds: int = 3,
    target: float = 0.99,
) -> SimulationReport:
    """Replay labeling of a CSV or JSONL file with its gold column as the oracle.

    Parameters
    ----------
    data:
        A ``.csv`` or ``.jsonl`` file with texts and gold labels.
    gold_column, text_column:
        Columns holding the gold label and the text to embed.
    strategies:
        Names in :data:`labelloop.active.STRATEGIES` to compare.
    embeddings:
        A ``.npy`` matrix with one row per data row, instead of embedding the texts with
        ``embedding_model``.
    test_size:
        Share of rows held out for testing (a fixed shuffle, seed 0).
    batch_size, budget, seeds, target:
        Labels per round, labels per run (default: the whole pool), runs per strategy,
        and the fraction of full-pool accuracy to reach.

    Raises
    ------
    ValidationError
        For an unknown strategy, a bad ``test_size``, a missing column or a single class.
    NotFoundError
        If the data or embeddings file does not exist.
    """
    unknown = [s for s in strategies if s not in STRATEGIES]
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
        X[pool], y[pool], X_test=X[test], y_test=y[test], strategies=list(strategies),
        batch_size=batch_size, budget=budget, seeds=range(seeds), target=target,
    )
    summary = (
        f"{len(pool)} pool / {len(test)} test rows, {classes.size} classes; "
        f"full-pool accuracy {res.full_accuracy:.4f}, target {res.target_accuracy:.4f}"
    )
    return SimulationReport(res, summary, res.to_markdown())
