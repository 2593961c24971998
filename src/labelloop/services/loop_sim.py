"""``labelloop simulate --loop``: replay the whole loop with gold playing the human.

Each seed builds a throw-away project (SQLite in a temporary folder), imports the pool's
texts without labels, caches their embeddings, applies the labeling functions if given,
then alternates :func:`labelloop.services.loop.run_round` (the same code ``labelloop loop``
runs) with simulated answers to the batch the round queued on top: gold itself, or 1-3
simulated annotators of given accuracy answering each item ``overlap`` times.

Baselines in the same run, on the same embeddings and end model: random order and margin
sampling alone (the labeled set trains the model; the model's predictions label the rest).

With an expert (``Annotators.expert_accuracy``) the method ``loop-routed`` runs the loop
with routing by difficulty (project setting ``routing``): each round marks the open items
whose posterior is below ``hard_below`` as hard, and in the batch the expert answers the
hard items (once each) while the simulated annotators answer the rest; the plain ``loop``
in the same run gives every item to the annotators. Expert answers are counted apart, and
with prices the cost of both is reported.

After every round it measures human answers spent, items auto-accepted and their accuracy
against gold, the accuracy of the whole exported label set (human label where one exists,
else the posterior or the model's prediction) and the end model's test F1 (macro). The
loop's end model trains on the exported labels, each weighted by its confidence (1 for
human labels).
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from labelloop._deps import require
from labelloop.active.registry import get_strategy
from labelloop.core.records import AnnotationRecord, SourceKind
from labelloop.core.schema import LabelSchema
from labelloop.errors import ValidationError
from labelloop.services.loop import LoopConfig, Prelabeler, RoundReport, run_round
from labelloop.services.project import Project

METHODS = ("loop", "loop-routed", "margin", "random")
EXPERT = "sim-expert"


@dataclass(frozen=True)
class LoopPoint:
    """One measurement after a round of one method and seed."""

    method: str
    seed: int
    round: int
    n_human: int
    n_auto: int
    auto_accuracy: float | None
    export_accuracy: float
    f1: float
    n_expert: int = 0
    """Of ``n_human``, the answers an expert gave (routing by difficulty)."""


@dataclass
class LoopSimulation:
    """Every point of every method and seed, and the all-gold reference F1."""

    points: list[LoopPoint]
    full_f1: float
    pool_size: int
    tolerance: float = 0.01
    notes: list[str] = field(default_factory=list)
    prices: tuple[float, float] | None = None
    """What one answer of an annotator and of an expert costs (for the cost column)."""

    def reach(self, method: str) -> list[int | None]:
        """Per seed: human answers when the end model first came within ``tolerance`` of
        the all-gold F1 (``None``: never within the budget)."""
        out = []
        for seed in sorted({p.seed for p in self.points}):
            mine = [p for p in self.points if p.method == method and p.seed == seed]
            hit = [p.n_human for p in mine if p.f1 >= self.full_f1 - self.tolerance]
            out.append(min(hit) if hit else None)
        return out

    def to_markdown(self) -> str:
        """A summary table per method, then the loop's rounds (mean over seeds)."""
        lines = [f"All-gold end model: test F1 {self.full_f1:.4f}; pool {self.pool_size}; "
                 f"target: within {100 * self.tolerance:.0f} point(s).", "",
                 "| method | human answers to reach (mean ± sd) | reached | % of pool | "
                 "exported-label accuracy there |", "|---|---|---|---|---|"]
        for m in self._methods():
            reach = self.reach(m)
            got = [r for r in reach if r is not None]
            budget = max(p.n_human for p in self.points if p.method == m)
            vals = [r if r is not None else budget for r in reach]
            mean, sd = float(np.mean(vals)), float(np.std(vals))
            acc = [self._at(m, s, r) for s, r in zip(self._seeds(), reach, strict=True)
                   if r is not None]
            lines.append(
                f"| {m} | {'≥' if len(got) < len(reach) else ''}{mean:.0f} ± {sd:.0f} | "
                f"{len(got)}/{len(reach)} | {100 * mean / self.pool_size:.1f}% | "
                f"{np.mean(acc):.4f} |" if acc else
                f"| {m} | ≥{mean:.0f} ± {sd:.0f} | 0/{len(reach)} | - | - |")
        lines += self._routing_lines()
        cost = self.prices is not None
        lines += ["", "Per round (mean over seeds):", "",
                  "| method | round | human answers | of them expert | auto-accepted | "
                  "auto-accepted accuracy | exported-label accuracy | end-model test F1 |"
                  + (" cost |" if cost else ""),
                  "|---|---|---|---|---|---|---|---|" + ("---|" if cost else "")]
        for m in self._methods():
            for r in sorted({p.round for p in self.points if p.method == m}):
                pts = [p for p in self.points if p.method == m and p.round == r]
                auto = [p.auto_accuracy for p in pts if p.auto_accuracy is not None]
                lines.append(
                    f"| {m} | {r} | {np.mean([p.n_human for p in pts]):.0f} | "
                    f"{np.mean([p.n_expert for p in pts]):.0f} | "
                    f"{np.mean([p.n_auto for p in pts]):.0f} | "
                    f"{f'{np.mean(auto):.4f}' if auto else '-'} | "
                    f"{np.mean([p.export_accuracy for p in pts]):.4f} | "
                    f"{np.mean([p.f1 for p in pts]):.4f} |"
                    + (f" {np.mean([self.cost(p) for p in pts]):.2f} |" if cost else ""))
        return "\n".join([*lines, "", *self.notes])

    def cost(self, point: LoopPoint) -> float:
        """What a point's answers cost at :attr:`prices` (0 without prices)."""
        if self.prices is None:
            return 0.0
        plain, expert = self.prices
        return (point.n_human - point.n_expert) * plain + point.n_expert * expert

    def _routing_lines(self) -> list[str]:
        """Plain loop vs routed loop at their last round: answers, accuracy, cost."""
        if "loop-routed" not in self._methods() or "loop" not in self._methods():
            return []
        out = ["", "Routing by difficulty (last round, mean over seeds):", "",
               "| method | human answers | of them expert | exported-label accuracy | "
               "end-model test F1 | cost |", "|---|---|---|---|---|---|"]
        for m in ("loop", "loop-routed"):
            last = [max((p for p in self.points if p.method == m and p.seed == s),
                        key=lambda p: p.round) for s in self._seeds()]
            out.append(
                f"| {m} | {np.mean([p.n_human for p in last]):.0f} | "
                f"{np.mean([p.n_expert for p in last]):.0f} | "
                f"{np.mean([p.export_accuracy for p in last]):.4f} | "
                f"{np.mean([p.f1 for p in last]):.4f} | "
                + (f"{np.mean([self.cost(p) for p in last]):.2f} |" if self.prices else "- |"))
        return out

    def plot(self, path: str | Path, *, title: str | None = None) -> Path | None:
        """End-model F1 against human answers per method (PNG); None without matplotlib."""
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            return None
        fig, ax = plt.subplots(figsize=(6, 4))
        for m in self._methods():
            by_n: dict[int, list[float]] = {}
            for p in self.points:
                if p.method == m:
                    by_n.setdefault(p.n_human, []).append(p.f1)
            xs = sorted(by_n)
            ax.plot(xs, [np.mean(by_n[x]) for x in xs], label=m)
        ax.axhline(self.full_f1 - self.tolerance, color="grey", ls="--", lw=1,
                   label="all-gold F1 - 1 point")
        ax.set_xlabel("human answers")
        ax.set_ylabel("end-model test F1 (macro)")
        ax.set_title(title or "closed loop vs baselines")
        ax.legend()
        fig.tight_layout()
        out = Path(path)
        fig.savefig(out, dpi=100)
        plt.close(fig)
        return out

    def _methods(self) -> list[str]:
        return [m for m in METHODS if any(p.method == m for p in self.points)]

    def _seeds(self) -> list[int]:
        return sorted({p.seed for p in self.points})

    def _at(self, method: str, seed: int, n: int) -> float:
        return next(p.export_accuracy for p in self.points
                    if p.method == method and p.seed == seed and p.n_human == n)


@dataclass(frozen=True)
class Annotators:
    """Simulated people: one accuracy each (a wrong answer is another class at random),
    each item answered by ``overlap`` of them in turn. ``None`` accuracies: gold itself."""

    accuracies: tuple[float, ...] = ()
    overlap: int = 1
    expert_accuracy: float | None = None
    """An expert's accuracy: the ``loop-routed`` method sends hard items to them."""
    hard_below: float = 0.8
    """Routing: open items whose posterior is below this are hard."""

    def check(self) -> None:
        """Raise ValidationError for a bad accuracy or overlap."""
        if len(self.accuracies) > 3 or any(not 0 < a <= 1 for a in self.accuracies):
            raise ValidationError(
                f"give at most 3 annotator accuracies in (0, 1], got {list(self.accuracies)}")
        if self.expert_accuracy is not None and not 0 < self.expert_accuracy <= 1:
            raise ValidationError(
                f"the expert's accuracy must be in (0, 1], got {self.expert_accuracy}")
        if not 0 < self.hard_below <= 1:
            raise ValidationError(f"hard_below must be in (0, 1], got {self.hard_below}")
        if not 1 <= self.overlap <= max(1, len(self.accuracies)):
            raise ValidationError(
                f"overlap must be between 1 and the number of annotators, got {self.overlap}")


def simulate_loop(
    texts: Sequence[str], y: npt.ArrayLike, X: npt.NDArray[Any], *,
    X_test: npt.NDArray[Any], y_test: npt.ArrayLike, schema: LabelSchema,
    lfs: list[Any] | None = None, embedding_model: str = "minilm",
    prelabeler: Prelabeler | None = None, config: LoopConfig | None = None,
    methods: Sequence[str] = METHODS, batch_size: int = 10, budget: int = 300,
    seeds: Sequence[int] = (0, 1, 2), annotators: Annotators | None = None,
    target_precision: float = 0.95, stop_at_target: bool = False, pseudo_weight: float = 1.0,
    prices: tuple[float, float] | None = None,
) -> LoopSimulation:
    """Replay the loop and its baselines on a pool with gold labels ``y``.

    Parameters
    ----------
    texts, y, X:
        The pool: texts, gold class indices and embeddings (one row per text).
    X_test, y_test:
        Held-out test set for the end model.
    schema:
        The project's label schema (class descriptions feed the zero-shot prototypes).
    lfs:
        Labeling functions applied to the pool once per seed.
    embedding_model:
        Name the embeddings are cached under: a model name (the loop's pre-labeler is then
        zero-shot anchored) or any other name (a plain logistic-regression head).
    prelabeler:
        A pre-labeler instance reused across rounds (saves reloading a model).
    methods:
        Among ``"loop"``, ``"loop-routed"`` (needs ``annotators.expert_accuracy``; left
        out without one), ``"margin"``, ``"random"``.
    batch_size, budget, seeds:
        Items per round, human answers per run, one run per seed and method.
    annotators:
        Simulated people (default: gold answers once).
    target_precision:
        The project's auto-accept target.
    stop_at_target:
        End a run once its end model is within 1 point of the all-gold F1.
    pseudo_weight:
        The loop's end model weighs a posterior label by ``pseudo_weight * confidence``
        (a human label by 1); 0 trains it on human labels alone.
    prices:
        ``(per answer, per expert answer)``: the tables gain a cost column.
    """
    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise ValidationError(f"unknown method {bad[0]!r}; choose from {', '.join(METHODS)}")
    people = annotators or Annotators()
    people.check()
    if people.expert_accuracy is None:
        methods = [m for m in methods if m != "loop-routed"]
    y_pool = np.asarray(y, dtype=np.int64)
    yt = np.asarray(y_test, dtype=np.int64)
    if X.shape[0] != len(texts) or y_pool.shape != (len(texts),):
        raise ValidationError(f"X, y and texts need one row each: {X.shape}, {y_pool.shape}, "
                              f"{len(texts)}")
    if batch_size < 1 or budget < batch_size:
        raise ValidationError(f"need 1 <= batch_size <= budget, got {batch_size}, {budget}")
    full = _end_model(X, y_pool, np.ones(len(y_pool)))
    sim = LoopSimulation([], _f1(full, X_test, yt), len(y_pool), prices=prices)
    for seed in seeds:
        for method in methods:
            run = _run_loop if method.startswith("loop") else _run_baseline
            run(sim, method, seed, texts, y_pool, X, X_test, yt, schema=schema, lfs=lfs,
                embedding_model=embedding_model, prelabeler=prelabeler, config=config,
                batch_size=batch_size, budget=budget, people=people,
                target_precision=target_precision, stop=stop_at_target,
                pseudo_weight=pseudo_weight)
    return sim


def _run_loop(sim: LoopSimulation, method: str, seed: int, texts: Sequence[str],
              y: npt.NDArray[np.int64], X: npt.NDArray[Any], X_test: npt.NDArray[Any],
              yt: npt.NDArray[np.int64], *, schema: LabelSchema, lfs: list[Any] | None,
              embedding_model: str, prelabeler: Prelabeler | None, config: LoopConfig | None,
              batch_size: int, budget: int, people: Annotators, target_precision: float,
              stop: bool, pseudo_weight: float) -> None:
    from labelloop.services.weak import apply_to_project

    rng = np.random.default_rng([seed, 17])
    cfg = replace(config or LoopConfig(), embedding_model=embedding_model,
                  batch_size=batch_size, random_state=seed)
    with tempfile.TemporaryDirectory(prefix="labelloop-sim-") as tmp:
        data = Path(tmp) / "pool.csv"
        with data.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["text"])
            w.writerows([[t] for t in texts])
        settings: dict[str, Any] = {"target_precision": target_precision,
                                    "loop_every": batch_size}
        routed = method == "loop-routed"
        if routed:
            settings.update(routing="difficulty", experts=[EXPERT],
                            hard_below=people.hard_below)
        with Project.create(Path(tmp) / "project", schema=schema, settings=settings) as p:
            p.import_file(data, label_column="")
            ids = np.asarray([it.id for it in p.items()], dtype=np.int64)
            if ids.size != len(texts):
                raise ValidationError(f"imported {ids.size} items from {len(texts)} texts")
            p.cache_embeddings(embedding_model, ids.tolist(), X)
            if lfs:
                apply_to_project(p, lfs)
            row = {int(i): r for r, i in enumerate(ids)}
            sources = [p.source(SourceKind.HUMAN, f"sim-{j + 1}")
                       for j in range(max(1, len(people.accuracies)))]
            expert = p.source(SourceKind.HUMAN, EXPERT)
            spent, by_expert, turn, n_round = 0, 0, 0, 0
            while True:
                rep = run_round(p, config=cfg, trigger="simulate", prelabeler=prelabeler)
                point = _measure_loop(method, seed, n_round, spent, rep, y, X, X_test, yt,
                                      pseudo_weight)
                sim.points.append(replace(point, n_expert=by_expert))
                n_round += 1
                if spent >= budget or (stop and point.f1 >= sim.full_f1 - sim.tolerance):
                    break
                batch = rep.queue[: min(batch_size, (budget - spent) // people.overlap or 1)]
                if not batch:
                    break
                answers = []
                hard = set(rep.item_ids[rep.hard].tolist()) if routed else set()
                for item in batch:
                    if item in hard:  # the expert answers it, once
                        label = _answer(int(y[row[item]]), people, -1, schema.k, rng)
                        answers.append(AnnotationRecord(item_id=item,
                                                        source_id=int(expert.id),  # type: ignore[arg-type]
                                                        label=label))
                        by_expert += 1
                        continue
                    for _ in range(people.overlap):
                        j = turn % len(sources)
                        turn += 1
                        label = _answer(int(y[row[item]]), people, j, schema.k, rng)
                        answers.append(AnnotationRecord(item_id=item,
                                                        source_id=int(sources[j].id),  # type: ignore[arg-type]
                                                        label=label))
                p.add_annotations(answers)
                spent += len(answers)


def _answer(truth: int, people: Annotators, j: int, k: int, rng: np.random.Generator) -> int:
    """Annotator ``j``'s answer (``j = -1``: the expert's)."""
    accuracy = people.expert_accuracy if j < 0 else (
        people.accuracies[j] if people.accuracies else None)
    if accuracy is None or rng.random() < accuracy:
        return truth
    return int(rng.choice([c for c in range(k) if c != truth]))


def _measure_loop(method: str, seed: int, n_round: int, spent: int, rep: RoundReport,
                  y: npt.NDArray[np.int64], X: npt.NDArray[Any], X_test: npt.NDArray[Any],
                  yt: npt.NDArray[np.int64], pseudo_weight: float) -> LoopPoint:
    human = rep.human >= 0
    exported = np.where(human, rep.human, rep.labels)
    weights = np.where(human, 1.0, pseudo_weight * rep.confidence)
    has = (exported >= 0) & (weights > 0)
    model = _end_model(X[has], exported[has], weights[has])
    acc = rep.accepted
    return LoopPoint(method, seed, n_round, spent, int(acc.sum()),
                     float((rep.labels[acc] == y[acc]).mean()) if acc.any() else None,
                     float((exported == y).mean()), _f1(model, X_test, yt))


def _run_baseline(sim: LoopSimulation, method: str, seed: int, texts: Sequence[str],
                  y: npt.NDArray[np.int64], X: npt.NDArray[Any], X_test: npt.NDArray[Any],
                  yt: npt.NDArray[np.int64], *, batch_size: int, budget: int, stop: bool,
                  **_: Any) -> None:
    """Random order or margin sampling alone: the labeled set (gold) trains the end model,
    whose predictions label the rest of the pool in the exported set."""
    strategy = get_strategy(method)
    rng = np.random.default_rng(seed)
    labeled: npt.NDArray[np.int64] = np.empty(0, dtype=np.int64)
    model: Any = None
    n_round = 0
    while labeled.size < budget:
        picked = strategy.select(model, X, min(batch_size, budget - labeled.size),
                                 labeled=labeled, random_state=rng)
        labeled = np.concatenate([labeled, np.asarray(picked, dtype=np.int64)])
        model = (_end_model(X[labeled], y[labeled], np.ones(labeled.size))
                 if np.unique(y[labeled]).size > 1 else None)
        exported = model.predict(X) if model is not None else np.full(len(y), y[labeled][0])
        exported[labeled] = y[labeled]
        f1 = _f1(model, X_test, yt) if model is not None else 0.0
        sim.points.append(LoopPoint(method, seed, n_round, int(labeled.size), 0, None,
                                    float((exported == y).mean()), f1))
        n_round += 1
        if stop and f1 >= sim.full_f1 - sim.tolerance:
            break


def _end_model(X: npt.NDArray[Any], y: npt.NDArray[np.int64], w: npt.NDArray[Any]) -> Any:
    lr = require("ml", "sklearn.linear_model", feature="loop simulation").LogisticRegression
    if np.unique(y).size < 2:
        return None
    return lr(max_iter=1000).fit(X, y, sample_weight=w)


def _f1(model: Any, X: npt.NDArray[Any], y: npt.NDArray[np.int64]) -> float:
    if model is None:
        return 0.0
    f1_score = require("ml", "sklearn.metrics", feature="loop simulation").f1_score
    return float(f1_score(y, model.predict(X), average="macro"))


def simulate_loop_file(
    data: Path, *, gold_column: str, text_column: str = "text", lfs: Path | None = None,
    embeddings: Path | None = None, embedding_model: str = "minilm", test_size: float = 0.25,
    batch_size: int = 10, budget: int = 300, seeds: int = 3,
    annotators: Annotators | None = None, target_precision: float = 0.95,
    prices: tuple[float, float] | None = None,
) -> LoopSimulation:
    """:func:`simulate_loop` on a CSV or JSONL file with a gold column.

    Classes are the gold column's values in sorted order (class descriptions are their
    names); rows are split into pool and test by a fixed shuffle (seed 0). With
    ``embeddings`` (a ``.npy`` matrix, one row per data row) the pre-labeler is a plain
    head on them; otherwise the texts are embedded with ``embedding_model`` and the
    pre-labeler is zero-shot anchored.
    """
    from labelloop.services.simulate import _column, _features, read_table
    from labelloop.services.weak import load_lfs

    if not 0 < test_size < 1:
        raise ValidationError(f"--test-size must be between 0 and 1, got {test_size}")
    rows = read_table(data)
    gold = _column(rows, gold_column, "gold")
    texts = _column(rows, text_column, "text")
    classes, y = np.unique(gold, return_inverse=True)
    if classes.size < 2:
        raise ValidationError(f"the gold column {gold_column!r} holds a single class")
    lf_list = load_lfs(lfs) if lfs is not None else None
    X = _features(rows, text_column, embeddings, embedding_model)
    name = "precomputed" if embeddings is not None else embedding_model
    schema = LabelSchema.from_labels("text-classification", [str(c) for c in classes])
    prelabeler = None
    if embeddings is None:
        from labelloop.prelabel import ZeroShotTextClassifier

        prelabeler = ZeroShotTextClassifier(schema, model=embedding_model)
    order = np.random.default_rng(0).permutation(len(rows))
    n_test = max(1, round(test_size * len(rows)))
    test, pool = order[:n_test], order[n_test:]
    return simulate_loop(
        [texts[i] for i in pool], y[pool], X[pool], X_test=X[test], y_test=y[test],
        schema=schema, lfs=lf_list, embedding_model=name, prelabeler=prelabeler,
        batch_size=batch_size, budget=budget, seeds=range(seeds), annotators=annotators,
        target_precision=target_precision, prices=prices,
    )
