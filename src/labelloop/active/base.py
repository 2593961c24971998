"""The ``QueryStrategy`` protocol and the shared, memory-bounded plumbing behind it.

A strategy picks the next ``n`` items for humans from a pool. Every strategy has the same
call::

    strategy.select(model_or_proba, pool, n, *, labeled=None, random_state=None) -> indices

``pool`` is the feature matrix of *all* items (labeled and unlabeled), usually the
embeddings cached by pre-labeling; ``labeled`` lists the rows already labeled, which are
never returned. ``model_or_proba`` is a fitted classifier with ``predict_proba`` (called on
the pool chunk by chunk, so a 1M x 384 pool never needs an ``(n, k)`` copy in float64), an
``(n_pool, k)`` probability array (e.g. a label-model or zero-shot posterior), or ``None``
when no model exists yet.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from labelloop._deps import require
from labelloop.errors import EmptyPoolError, ValidationError

#: Rows scored at once; bounds the temporary memory of scoring to ``CHUNK x max(k, d)``.
CHUNK = 65_536

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.floating[Any]]
RandomState = int | np.random.Generator | None


@runtime_checkable
class QueryStrategy(Protocol):
    """Choose the next items to label."""

    def select(
        self,
        model_or_proba: Any,
        pool: npt.ArrayLike,
        n: int,
        *,
        labeled: Sequence[int] | npt.ArrayLike | None = None,
        random_state: RandomState = None,
    ) -> IntArray:
        """Return ``n`` distinct indices of unlabeled rows of ``pool``, best first."""
        ...


@dataclass(frozen=True)
class Query:
    """Validated arguments of one ``select`` call."""

    pool: npt.NDArray[Any]
    candidates: IntArray
    labeled: IntArray
    n: int
    model_or_proba: Any
    rng: np.random.Generator

    def seed(self) -> int:
        """Draw an integer seed for libraries that want one (scikit-learn)."""
        return int(self.rng.integers(2**31 - 1))


class Strategy:
    """Base of the built-in strategies: ``select`` validates the call, ``_select`` chooses.

    Subclasses implement ``_select(query)`` on a validated :class:`Query` and may override
    ``_check_params`` to validate their own constructor arguments first.
    """

    def select(
        self,
        model_or_proba: Any,
        pool: npt.ArrayLike,
        n: int,
        *,
        labeled: Sequence[int] | npt.ArrayLike | None = None,
        random_state: RandomState = None,
    ) -> IntArray:
        """Return ``n`` distinct indices of unlabeled rows of ``pool``, best first."""
        self._check_params()
        query = check_query(model_or_proba, pool, n, labeled=labeled, random_state=random_state)
        return self._select(query)

    def _check_params(self) -> None:
        """Raise ``ValidationError`` for bad constructor arguments (none by default)."""

    def _select(self, query: Query) -> IntArray:
        raise NotImplementedError


def check_query(
    model_or_proba: Any,
    pool: npt.ArrayLike,
    n: int,
    *,
    labeled: Sequence[int] | npt.ArrayLike | None,
    random_state: RandomState,
) -> Query:
    """Validate the arguments of ``select`` once, at the public boundary.

    Raises
    ------
    ValidationError
        If ``pool`` is not 2-D, ``n`` is not a positive integer, ``labeled`` holds indices
        outside the pool, ``n`` exceeds the number of unlabeled items, or the probabilities
        do not match the pool.
    EmptyPoolError
        If every item of the pool is already labeled.
    """
    arr = np.asanyarray(pool)  # a memory map stays one (see take_rows)
    if arr.ndim != 2:
        raise ValidationError(f"pool must be 2-D (n_items, n_features), got shape {arr.shape}")
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValidationError(f"n must be a positive integer, got {n!r}")
    size = arr.shape[0]
    lab = np.unique(np.asarray([] if labeled is None else labeled, dtype=np.int64).ravel())
    if lab.size and (lab[0] < 0 or lab[-1] >= size):
        raise ValidationError(
            f"labeled holds index {lab[0] if lab[0] < 0 else lab[-1]}; "
            f"indices must be in 0..{size - 1} for a pool of {size} items"
        )
    mask = np.ones(size, dtype=bool)
    mask[lab] = False
    candidates = np.flatnonzero(mask)
    if candidates.size == 0:
        raise EmptyPoolError(
            f"no unlabeled items left: all {size} items of the pool are labeled"
            if size
            else "the pool is empty: add items before selecting"
        )
    if n > candidates.size:
        raise ValidationError(
            f"asked for n={n} items but only {candidates.size} unlabeled items remain; "
            f"ask for at most {candidates.size}"
        )
    if model_or_proba is not None and not hasattr(model_or_proba, "predict_proba"):
        proba = np.asarray(model_or_proba, dtype=float)
        if proba.ndim != 2 or proba.shape[0] != size:
            raise ValidationError(
                f"probabilities must have shape (n_pool, k) = ({size}, k), got {proba.shape}"
            )
        sums = proba.sum(axis=1)
        if not np.allclose(sums, 1.0, atol=1e-3) or proba.min(initial=0.0) < 0:
            raise ValidationError(
                "probability rows must be non-negative and sum to 1; "
                f"row sums range from {sums.min():.4g} to {sums.max():.4g}"
            )
        model_or_proba = proba
    return Query(arr, candidates, lab, int(n), model_or_proba, np.random.default_rng(random_state))


def take_rows(pool: npt.NDArray[Any], rows: npt.ArrayLike) -> npt.NDArray[Any]:
    """``pool[rows]`` as an array of its own.

    A pool memory-mapped from a file (a :class:`numpy.memmap` over its whole map) is read
    from the file with one ``pread`` per run of consecutive rows instead: indexing the map
    makes the kernel map whole page-cache folios (up to 2 MB each), so a few hundred
    scattered rows of a 1.5 GB pool kept most of it resident.
    """
    idx = np.asarray(rows, dtype=np.int64).reshape(-1)
    if not (isinstance(pool, np.memmap) and isinstance(pool.base, mmap.mmap)
            and pool.filename is not None and pool.ndim == 2 and pool.flags.c_contiguous):
        return np.asarray(pool[idx])
    uniq, inverse = np.unique(idx, return_inverse=True)
    width = pool.shape[1]
    size = width * pool.dtype.itemsize
    out = np.empty((uniq.size, width), dtype=pool.dtype)
    cuts = np.flatnonzero(np.diff(uniq) != 1) + 1
    with open(pool.filename, "rb") as fh:
        at = 0
        for run in np.split(uniq, cuts) if uniq.size else []:
            data = os.pread(fh.fileno(), run.size * size, pool.offset + int(run[0]) * size)
            out[at:at + run.size] = np.frombuffer(data, dtype=pool.dtype).reshape(-1, width)
            at += run.size
    taken: npt.NDArray[Any] = out[inverse.reshape(-1)]
    return taken


def score_candidates(query: Query, score: Callable[[FloatArray], FloatArray]) -> FloatArray | None:
    """Apply ``score`` to the class probabilities of every candidate, chunk by chunk.

    Returns ``None`` when there is no model yet, else one score per candidate (in the order of
    ``query.candidates``). A model is asked for ``predict_proba`` on at most ``CHUNK``
    contiguous rows at a time (labeled rows included, then dropped), so memory stays
    ``O(n_pool)`` for the scores.
    """
    source = query.model_or_proba
    if source is None:
        return None
    size = query.pool.shape[0]
    keep = np.zeros(size, dtype=bool)
    keep[query.candidates] = True
    parts: list[FloatArray] = []
    for start in range(0, size, CHUNK):
        # contiguous slices are views of the pool: no copy of the rows, even on 1M x 384
        block = slice(start, start + CHUNK)
        if isinstance(source, np.ndarray):
            proba = source[block]
        else:
            rows = np.arange(start, min(start + CHUNK, size))
            proba = np.asarray(source.predict_proba(take_rows(query.pool, rows)),
                               dtype=np.float64)
        parts.append(score(proba)[keep[block]])
    scores: FloatArray = np.concatenate(parts)
    return scores


def top_k(scores: FloatArray, k: int, rng: np.random.Generator) -> IntArray:
    """Return the positions of the ``k`` highest scores, best first, ties broken at random.

    Runs in ``O(n)`` (partition, not a full sort), so it is cheap on a 1M pool.
    """
    part = np.arange(scores.size) if k >= scores.size else np.argpartition(-scores, k - 1)[:k]
    kth = scores[part].min()
    above = np.flatnonzero(scores > kth)
    ties = np.flatnonzero(scores == kth)
    chosen = np.concatenate([above, rng.choice(ties, k - above.size, replace=False)])
    jitter = rng.random(chosen.size)
    best_first: IntArray = chosen[np.lexsort((jitter, -scores[chosen]))].astype(np.int64)
    return best_first


def sklearn_cluster() -> Any:
    """Import ``sklearn.cluster`` or say which extra installs it."""
    return require("ml", "sklearn.cluster", feature="diversity-based active learning")
