"""Replay labeling with gold labels as the oracle human, and measure what each strategy saves.

``simulate`` runs every strategy for every seed: start with nothing labeled, let the strategy
pick a batch, "label" it from the gold column, refit the model, score it on the test set,
repeat. The result holds the learning curves (accuracy and macro-F1 against labels), a
markdown table, a matplotlib plot, and the labels each run needed to first reach ``target``
times the accuracy of a model trained on the whole pool.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from labelloop._deps import require
from labelloop.active.base import QueryStrategy
from labelloop.active.registry import get_strategy
from labelloop.errors import ValidationError


@dataclass(frozen=True)
class CurvePoint:
    """Test scores of one strategy, one seed, after ``n_labels`` labels."""

    strategy: str
    seed: int
    n_labels: int
    accuracy: float
    f1: float


@dataclass(frozen=True)
class SimulationResult:
    """Learning curves of a simulation, and the labels needed to reach the target."""

    points: list[CurvePoint]
    seeds: tuple[int, ...]
    full_accuracy: float
    target: float
    labels_to_reach: dict[str, list[int | None]]

    @property
    def target_accuracy(self) -> float:
        """The accuracy to reach: ``target * full_accuracy``."""
        return self.target * self.full_accuracy

    def curve(
        self, strategy: str, metric: str = "accuracy"
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Return labels, mean and standard deviation over seeds of ``metric`` for a strategy."""
        pts = [p for p in self.points if p.strategy == strategy]
        sizes = np.array(sorted({p.n_labels for p in pts}), dtype=np.int64)
        values = np.full((len(self.seeds), sizes.size), np.nan)
        for p in pts:
            values[self.seeds.index(p.seed), np.searchsorted(sizes, p.n_labels)] = getattr(
                p, metric
            )
        return sizes, np.nanmean(values, axis=0), np.nanstd(values, axis=0)

    def summary(self, baseline: str = "random") -> list[dict[str, Any]]:
        """Per strategy: mean and std of labels to reach the target, and the ratio to ``baseline``.

        A run that never reached the target counts as its last label count (a lower bound),
        and ``reached`` says how many seeds did reach it.
        """
        budget = {
            s: max(p.n_labels for p in self.points if p.strategy == s) for s in self.labels_to_reach
        }
        rows: list[dict[str, Any]] = []
        for name, runs in self.labels_to_reach.items():
            vals = np.array([budget[name] if r is None else r for r in runs], dtype=float)
            rows.append(
                {
                    "strategy": name,
                    "labels_mean": float(vals.mean()),
                    "labels_std": float(vals.std()),
                    "reached": sum(r is not None for r in runs),
                    "runs": len(runs),
                }
            )
        base = next((r["labels_mean"] for r in rows if r["strategy"] == baseline), None)
        for r in rows:
            r["ratio"] = r["labels_mean"] / base if base else float("nan")
        return rows

    def to_markdown(self, checkpoints: Sequence[int] = (100, 200, 400, 800)) -> str:
        """Return a markdown table: labels to reach the target, ratio to random, curve points."""
        head = ["strategy", "labels to target (mean ± std)", "x random", "reached"]
        head += [f"acc@{c}" for c in checkpoints]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in self.summary():
            sizes, mean, _ = self.curve(r["strategy"])
            accs = [
                f"{mean[sizes == c][0]:.4f}" if np.any(sizes == c) else "–" for c in checkpoints
            ]
            lines.append(
                f"| {r['strategy']} | {r['labels_mean']:.0f} ± {r['labels_std']:.0f} | "
                f"{r['ratio']:.2f} | {r['reached']}/{r['runs']} | " + " | ".join(accs) + " |"
            )
        return "\n".join(lines)

    def plot(self, path: str | Path, *, title: str | None = None, metric: str = "accuracy") -> Path:
        """Draw the mean learning curve (with a ±1 std band) of every strategy to a PNG."""
        require("ml", "matplotlib", feature="learning-curve plots").use("Agg")
        plt = require("ml", "matplotlib.pyplot", feature="learning-curve plots")
        fig, ax = plt.subplots(figsize=(8, 5))
        for name in self.labels_to_reach:
            sizes, mean, std = self.curve(name, metric)
            ax.plot(sizes, mean, label=name, lw=1.5)
            ax.fill_between(sizes, mean - std, mean + std, alpha=0.15)
        if metric == "accuracy":
            ax.axhline(
                self.target_accuracy,
                color="k",
                ls="--",
                lw=1,
                label=f"{self.target:.0%} of full-pool accuracy",
            )
        ax.set(xlabel="labels", ylabel=metric, title=title or "learning curves")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        out = Path(path)
        fig.savefig(out, dpi=120)
        plt.close(fig)
        return out


def _sklearn() -> tuple[Any, Any, Any, Any]:
    feature = "active-learning simulation"
    metrics = require("ml", "sklearn.metrics", feature=feature)
    return (require("ml", "sklearn.base", feature=feature).clone,
            require("ml", "sklearn.linear_model", feature=feature).LogisticRegression,
            metrics.accuracy_score, metrics.f1_score)


def simulate(
    X: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    strategies: Sequence[str | QueryStrategy] | Mapping[str, str | QueryStrategy] = (
        "random",
        "hybrid",
    ),
    X_test: npt.ArrayLike | None = None,
    y_test: npt.ArrayLike | None = None,
    estimator: Any = None,
    batch_size: int = 20,
    budget: int | None = None,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    target: float = 0.99,
    stop_at_target: bool = False,
) -> SimulationResult:
    """Replay active learning with ``y`` as the oracle and return the learning curves.

    Parameters
    ----------
    X, y : arrays of shape (n_pool, n_features) and (n_pool,)
        The pool (e.g. embeddings) and its gold labels, revealed only for selected rows.
    strategies : names, strategy instances, or a mapping from display name to either
        The strategies to compare, each run from an empty labeled set; the first batch is
        selected with no model (``model_or_proba=None``), so cold-start logic counts.
    X_test, y_test : arrays, optional
        Held-out evaluation set; without it the curve is measured on the pool itself.
    estimator : scikit-learn classifier, optional
        Cloned and refitted after every batch; default ``LogisticRegression(max_iter=1000)``.
    batch_size : int, default=20
        Labels per round.
    budget : int, optional
        Labels per run; default the whole pool.
    seeds : sequence of int, default=(0, 1, 2, 3, 4)
        One run per seed and strategy.
    target : float, default=0.99
        Fraction of the full-pool model's accuracy that counts as "reached".
    stop_at_target : bool, default=False
        End each run as soon as it reaches the target (faster when only the labels to reach
        it matter; the curves then end at different lengths).

    Returns
    -------
    SimulationResult
    """
    clone, LogisticRegression, accuracy_score, f1_score = _sklearn()
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValidationError(f"X must be (n, d) and y (n,), got {X.shape} and {y.shape}")
    if (X_test is None) != (y_test is None):
        raise ValidationError("give both X_test and y_test, or neither")
    X_eval, y_eval = (X, y) if X_test is None else (np.asarray(X_test), np.asarray(y_test))
    budget = X.shape[0] if budget is None else min(budget, X.shape[0])
    if batch_size < 1 or budget < 1 or not seeds or not 0 < target <= 1:
        raise ValidationError(
            "need batch_size >= 1, budget >= 1, at least one seed and 0 < target <= 1; got "
            f"batch_size={batch_size}, budget={budget}, seeds={list(seeds)}, target={target}"
        )
    named = (
        dict(strategies)
        if isinstance(strategies, Mapping)
        else {s if isinstance(s, str) else type(s).__name__: s for s in strategies}
    )
    runners = {name: get_strategy(s) for name, s in named.items()}
    base = estimator if estimator is not None else LogisticRegression(max_iter=1000)
    full = clone(base).fit(X, y)
    full_acc = float(accuracy_score(y_eval, full.predict(X_eval)))
    points: list[CurvePoint] = []
    reach: dict[str, list[int | None]] = {name: [] for name in runners}
    for name, strategy in runners.items():
        for seed in seeds:
            rng = np.random.default_rng(seed)
            labeled: npt.NDArray[np.int64] = np.empty(0, dtype=np.int64)
            model = None
            first: int | None = None
            while labeled.size < budget:
                n = min(batch_size, budget - labeled.size)
                picked = strategy.select(model, X, n, labeled=labeled, random_state=rng)
                labeled = np.concatenate([labeled, np.asarray(picked, dtype=np.int64)])
                seen = np.unique(y[labeled])
                model = clone(base).fit(X[labeled], y[labeled]) if seen.size > 1 else None
                pred = (
                    model.predict(X_eval) if model is not None else np.full(y_eval.shape, seen[0])
                )
                acc = float(accuracy_score(y_eval, pred))
                f1 = float(f1_score(y_eval, pred, average="macro"))
                points.append(CurvePoint(name, int(seed), int(labeled.size), acc, f1))
                if first is None and acc >= target * full_acc:
                    first = int(labeled.size)
                    if stop_at_target:
                        break
            reach[name].append(first)
    return SimulationResult(points, tuple(int(s) for s in seeds), full_acc, target, reach)
