"""Active-learning priorities for the annotation queue.

The queue serves unlabeled items by descending ``priority``. :func:`refresh_priorities`
recomputes those numbers: it trains a classifier on the project's cached embeddings from
human labels (majority per item) and, for items no human has labeled, the label model's
posterior (weighted by its confidence), then asks a query strategy for the next batch.

Priorities of unlabeled items:

- the batch the strategy picks gets ``1 + (batch - rank) / batch``, in ``(1, 2]``, best first;
- every other item gets its margin uncertainty, in ``[0, 1]`` (0 while no model exists).

Call it after every ``settings.requeue_every`` new human labels (:func:`needs_refresh`).
"""

from __future__ import annotations

import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from labelloop._deps import require
from labelloop.active import margin
from labelloop.active.base import take_rows
from labelloop.active.registry import DEFAULT_STRATEGY, get_strategy
from labelloop.core.records import SourceKind
from labelloop.errors import ValidationError
from labelloop.exec import ExecutorSpec, check_spec, executor_for
from labelloop.services.jobs import DEFAULT_CHUNK, Progress
from labelloop.services.project import Project


@dataclass(frozen=True)
class PriorityReport:
    """What one refresh did."""

    strategy: str
    n_items: int
    n_scored: int
    n_human_labeled: int
    n_weak_labeled: int
    missing_embeddings: int
    model_fitted: bool
    n_human_labels: int


def human_label_count(project: Project) -> int:
    """Number of human annotations carrying a single label (or, in a spans project, spans)."""
    return sum(a.label is not None or a.spans is not None
               for a in project.annotations(kinds=(SourceKind.HUMAN,)))


def needs_refresh(project: Project, *, labels_at_last_refresh: int) -> bool:
    """True once ``settings.requeue_every`` human labels arrived since the last refresh."""
    new = human_label_count(project) - labels_at_last_refresh
    return new >= project.settings.requeue_every


def training_labels(
    project: Project, *, weak_weight: float = 0.5
) -> tuple[dict[int, int], dict[int, tuple[int, float]]]:
    """Human labels (majority per item, ties to the lower class) and label-model labels.

    Returns ``(human, weak)``: ``human[item] = label``; ``weak[item] = (label, weight)`` for
    items without a human label, ``weight = weak_weight * confidence``.
    """
    human, weak = _training_columns(project, weak_weight)
    return human, {int(i): (int(y), float(w)) for i, y, w in zip(*weak, strict=True)}


def _training_columns(
    project: Project, weak_weight: float
) -> tuple[dict[int, int], tuple[npt.NDArray[np.int64], npt.NDArray[np.int64],
                                  npt.NDArray[np.float64]]]:
    """:func:`training_labels` with the label-model labels as arrays ``(items, labels,
    weights)`` in item order, read as columns (no record per annotation)."""
    votes: dict[int, Counter[int]] = defaultdict(Counter)
    hv = project.store.vote_columns(project.id, kinds=(SourceKind.HUMAN,))
    for i, lab in zip(hv.item_ids.tolist(), hv.labels.tolist(), strict=True):
        votes[i][lab] += 1
    human = {i: min(c, key=lambda lab: (-c[lab], lab)) for i, c in votes.items()}
    lm = project.store.vote_columns(project.id, kinds=(SourceKind.LABEL_MODEL,))
    keep = ~np.isin(lm.item_ids, np.fromiter(human, dtype=np.int64, count=len(human)))
    items, labels = lm.item_ids[keep], lm.labels[keep]
    conf = np.nan_to_num(lm.confidence[keep], nan=1.0)
    # votes come by item then source: of an item's label-model votes the last one counts
    last = np.r_[items[1:] != items[:-1], True] if items.size else np.zeros(0, dtype=bool)
    return human, (items[last], labels[last], weak_weight * conf[last])


def refresh_priorities(
    project: Project,
    *,
    embedding_model: str,
    strategy: str = DEFAULT_STRATEGY,
    batch_size: int | None = None,
    weak_weight: float = 0.5,
    max_weak: int | None = 20_000,
    estimator: Any = None,
    random_state: int | None = 0,
    executor: ExecutorSpec = "local",
    n_workers: int | None = None,
    chunk_size: int | None = None,
    on_chunk: Progress | None = None,
) -> PriorityReport:
    """Retrain on the embeddings and store a priority for every unlabeled item.

    Parameters
    ----------
    project : Project
    embedding_model : str
        Name under which pre-labeling cached the item embeddings; items without a cached
        vector are left unscored (counted in ``missing_embeddings``).
    strategy : str, default="hybrid"
        A name in ``labelloop.active.STRATEGIES``.
    batch_size : int, optional
        Items the strategy ranks on top; default ``settings.requeue_every``.
    weak_weight : float, default=0.5
        Sample weight of a label-model label relative to a human one (times its confidence);
        0 trains on human labels only.
    max_weak : int or None, default=20_000
        At most this many label-model labels train the classifier (a seeded random sample
        when there are more; every human label always trains it), so the fit stays seconds
        at 1M items. ``None`` uses them all.
    estimator : scikit-learn classifier, optional
        Default ``LogisticRegression(max_iter=1000)``.
    random_state : int or None, default=0
    executor : str or Executor, default="local"
        Where the unlabeled items are scored, in chunks: ``"local"``, ``"processes"``,
        ``"dask"``, ``"tcp://HOST:PORT"`` or a :class:`labelloop.exec.Executor`.
    n_workers : int, optional
        Workers for ``"processes"`` and ``"dask"``.
    chunk_size : int, optional
        Items scored per chunk (default 5,000).
    on_chunk : callable, optional
        Called with (chunks done, chunks in all) as chunks finish.

    Returns
    -------
    PriorityReport

    Notes
    -----
    A spans project is ranked by :func:`labelloop.services.span_active.refresh_span_priorities`
    (the span label model's token posteriors and sentence embeddings; the executor options
    and the classifier do not apply there).
    """
    if project.schema.task_type.has_spans:
        from labelloop.services.span_active import refresh_span_priorities

        return refresh_span_priorities(project, embedding_model=embedding_model,
                                       strategy=strategy, batch_size=batch_size,
                                       random_state=random_state)
    if not 0 <= weak_weight <= 1:
        raise ValidationError(f"weak_weight must be in [0, 1], got {weak_weight}")
    if max_weak is not None and max_weak < 0:
        raise ValidationError(f"max_weak must be >= 0 or None, got {max_weak}")
    check_spec(executor)
    chooser = get_strategy(strategy)
    items = project.store.job_item_ids(project.id)  # ids only: no item records built
    n_items = len(items)
    with tempfile.TemporaryDirectory(prefix="labelloop-embeddings-") as tmp:
        # the vectors stay on disk (memory-mapped): a 1M x 384 cache is 1.5 GB
        found, X = project.cached_embeddings(embedding_model, items,
                                             path=Path(tmp) / "vectors.f32")
        del items
        ids = np.asarray(found, dtype=np.int64)
        del found
        human, (weak_items, weak_labels, weak_weights) = _training_columns(project,
                                                                           weak_weight)
        human_items = np.fromiter(human, dtype=np.int64, count=len(human))
        human_rows = _rows_of(ids, human_items)
        train = [(r, lab, 1.0) for r, lab in zip(human_rows.tolist(), human.values(),
                                                 strict=True) if r >= 0]
        weak_rows = _rows_of(ids, weak_items)
        weak_at = np.flatnonzero((weak_rows >= 0) & (weak_weights > 0))
        if max_weak is not None and weak_at.size > max_weak:
            keep = np.random.default_rng(random_state).choice(weak_at.size, max_weak,
                                                              replace=False)
            weak_at = weak_at[np.sort(keep)]
        train += zip(weak_rows[weak_at].tolist(), weak_labels[weak_at].tolist(),
                     weak_weights[weak_at].tolist(), strict=True)
        model = _fit(estimator, X, train)
        labeled = np.unique(human_rows[human_rows >= 0])
        unlabeled = np.setdiff1d(np.arange(ids.size), labeled)
        priorities: dict[int, float] = {}
        if unlabeled.size:
            proba = _probabilities(model, X, executor, n_workers, chunk_size or DEFAULT_CHUNK,
                                   on_chunk)
            base = np.zeros(unlabeled.size) if proba is None else margin(proba[unlabeled])
            priorities = dict(zip(ids[unlabeled].tolist(), base.tolist(), strict=True))
            n = min(batch_size or project.settings.requeue_every, unlabeled.size)
            # the probabilities, not the model: the strategy need not score the pool again
            picked = chooser.select(proba, X, n, labeled=labeled, random_state=random_state)
            for rank, r in enumerate(picked):
                priorities[int(ids[r])] = 1.0 + (n - rank) / n
            project.set_priorities(priorities)
    return PriorityReport(
        strategy=strategy,
        n_items=n_items,
        n_scored=len(priorities),
        n_human_labeled=len(human),
        n_weak_labeled=int(weak_items.size),
        missing_embeddings=n_items - int(ids.size),
        model_fitted=model is not None,
        n_human_labels=human_label_count(project),
    )


def _rows_of(ids: npt.NDArray[np.int64], items: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Row of each of ``items`` in ``ids`` (unique), -1 where absent."""
    if ids.size == 0:
        return np.full(items.size, -1, dtype=np.int64)
    order = np.argsort(ids, kind="stable")
    at = np.minimum(np.searchsorted(ids[order], items), ids.size - 1)
    hit = ids[order][at] == items
    return np.where(hit, order[at], -1).astype(np.int64)


def _fit(
    estimator: Any, X: npt.NDArray[np.float32], train: list[tuple[int, int, float]]
) -> Any:
    """Fit a classifier on weighted rows, or return ``None`` with fewer than two classes."""
    if len({lab for _, lab, _ in train}) < 2:
        return None
    clone = require("ml", "sklearn.base", feature="active-learning priorities").clone
    LogisticRegression = require(
        "ml", "sklearn.linear_model", feature="active-learning priorities").LogisticRegression
    rows, labels, weights = (np.asarray(v) for v in zip(*train, strict=True))
    model = clone(estimator) if estimator is not None else LogisticRegression(max_iter=1000)
    return model.fit(take_rows(X, rows), labels, sample_weight=weights)


@dataclass(frozen=True)
class ProbaChunk:
    """Class probabilities of a chunk of embeddings under a fitted classifier."""

    model: Any

    def __call__(self, X: npt.NDArray[np.float32]) -> npt.NDArray[np.floating[Any]]:
        """``predict_proba`` of the rows of ``X`` (float32 rows give float32)."""
        return np.asarray(self.model.predict_proba(X))


def _probabilities(
    model: Any, X: npt.NDArray[np.float32], executor: ExecutorSpec, n_workers: int | None,
    size: int, on_chunk: Progress | None,
) -> npt.NDArray[np.floating[Any]] | None:
    """Class probabilities of every row of ``X``, in contiguous chunks on the executor
    (``None`` while no model exists). Chunks of a memory-mapped ``X`` are read from its
    file, so the pages scoring reads do not stay in this process's memory."""
    if model is None:
        return None
    if size < 1:
        raise ValidationError(f"chunk_size must be >= 1, got {size}")
    bounds = [(a, min(a + size, X.shape[0])) for a in range(0, X.shape[0], size)]
    out: npt.NDArray[np.floating[Any]] | None = None
    with executor_for(executor, n_workers=n_workers) as runner:
        payloads = ((c, _read_rows(X, a, b)) for c, (a, b) in enumerate(bounds))
        for n_done, (c, proba) in enumerate(runner.map_chunks(ProbaChunk(model), payloads), 1):
            a, b = bounds[c]
            if out is None:
                out = np.zeros((X.shape[0], proba.shape[1]), dtype=proba.dtype)
            out[a:b] = proba
            if on_chunk is not None:
                on_chunk(n_done, len(bounds))
    return out


def _read_rows(X: npt.NDArray[np.float32], a: int, b: int) -> npt.NDArray[np.float32]:
    """Rows ``a:b`` of ``X`` as an array of their own (of a memory map: read from its file)."""
    if isinstance(X, np.memmap) and X.filename is not None:
        width = X.shape[1]
        return np.fromfile(X.filename, dtype=np.float32, count=(b - a) * width,
                           offset=X.offset + a * width * 4).reshape(b - a, width)
    return np.asarray(X[a:b])
