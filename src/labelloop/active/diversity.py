"""Diversity strategies on embeddings: k-means representatives and core-set k-center greedy.

Both work on the rows of ``pool`` in chunks and keep at most ``O(n_pool)`` numbers besides
the pool itself: no ``n x n`` distance matrix is ever built.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from labelloop.active.base import (
    CHUNK,
    FloatArray,
    IntArray,
    Query,
    Strategy,
    sklearn_cluster,
    take_rows,
)


def _sq_norms(pool: npt.NDArray[Any], rows: IntArray) -> FloatArray:
    out = np.empty(rows.size)
    for s in range(0, rows.size, CHUNK):
        block = np.asarray(take_rows(pool, rows[s : s + CHUNK]), dtype=np.float64)
        out[s : s + block.shape[0]] = np.einsum("ij,ij->i", block, block)
    return out


def nearest_center(
    pool: npt.NDArray[Any], rows: IntArray, centers: FloatArray
) -> tuple[IntArray, FloatArray]:
    """Return, for each of ``rows``, the index of and squared distance to its nearest center.

    Centers are processed in blocks too, so ``len(centers)`` may be large (e.g. a core-set's
    labeled items).
    """
    centers = np.asarray(centers, dtype=np.float64)
    c_norms = np.einsum("ij,ij->i", centers, centers)
    best = np.full(rows.size, np.inf)
    arg = np.zeros(rows.size, dtype=np.int64)
    c_block = max(1, CHUNK // 64)
    for s in range(0, rows.size, CHUNK):
        block = np.asarray(take_rows(pool, rows[s : s + CHUNK]), dtype=np.float64)
        b_norms = np.einsum("ij,ij->i", block, block)
        sl = slice(s, s + block.shape[0])
        for c in range(0, centers.shape[0], c_block):
            d2 = b_norms[:, None] - 2.0 * block @ centers[c : c + c_block].T
            d2 += c_norms[None, c : c + c_block]
            j = np.argmin(d2, axis=1)
            dj = d2[np.arange(j.size), j]
            better = dj < best[sl]
            best[sl] = np.where(better, dj, best[sl])
            arg[sl] = np.where(better, j + c, arg[sl])
    return arg, np.maximum(best, 0.0)


def closest_to_centers(
    pool: npt.NDArray[Any], rows: IntArray, centers: FloatArray, rng: np.random.Generator
) -> IntArray:
    """Pick, for each center, the row of ``rows`` assigned to it that lies closest to it.

    The picks are distinct because clusters are disjoint. A center left with no rows (which
    mini-batch k-means can produce) is replaced by a random unpicked row.
    """
    arg, dist = nearest_center(pool, rows, centers)
    order = np.lexsort((dist, arg))
    first = np.ones(order.size, dtype=bool)
    first[1:] = arg[order][1:] != arg[order][:-1]
    picked = rows[order[first]]
    missing = centers.shape[0] - picked.size
    if missing:
        rest = np.setdiff1d(rows, picked, assume_unique=True)
        picked = np.concatenate([picked, rng.choice(rest, missing, replace=False)])
    out: IntArray = picked.astype(np.int64)
    return out


def fit_centers(
    X: FloatArray,
    k: int,
    *,
    seed: int,
    sample_weight: FloatArray | None = None,
    max_exact: int = 20_000,
) -> FloatArray:
    """Cluster ``X`` into ``k`` groups and return the centers.

    Exact k-means for up to ``max_exact`` rows, mini-batch k-means beyond.
    """
    cluster = sklearn_cluster()
    if X.shape[0] <= max_exact:
        km = cluster.KMeans(n_clusters=k, n_init=1, random_state=seed)
    else:
        km = cluster.MiniBatchKMeans(
            n_clusters=k, n_init=3, batch_size=4096, random_state=seed, max_no_improvement=5
        )
    km.fit(X, sample_weight=sample_weight)
    return np.asarray(km.cluster_centers_, dtype=np.float64)


class KMeansDiversity(Strategy):
    """Cluster the unlabeled pool into ``n`` groups and pick the item closest to each centroid.

    The model is ignored.

    Parameters
    ----------
    max_fit_samples : int, default=100_000
        The centroids are fitted on a random sample of at most this many unlabeled rows; every
        unlabeled row is then assigned (chunk by chunk) to pick the representatives. This keeps
        a 1M pool in bounded time and memory.
    """

    def __init__(self, *, max_fit_samples: int = 100_000) -> None:
        self.max_fit_samples = max_fit_samples

    def _select(self, q: Query) -> IntArray:
        return representatives(q.pool, q.candidates, q.n, q.rng, self.max_fit_samples)


def representatives(
    pool: npt.NDArray[Any],
    rows: IntArray,
    n: int,
    rng: np.random.Generator,
    max_fit_samples: int = 100_000,
) -> IntArray:
    """Return ``n`` rows of ``rows`` closest to the centroids of a k-means with ``n`` clusters."""
    if n == rows.size:
        return rng.permutation(rows).astype(np.int64)
    fit_rows = rows
    if rows.size > max_fit_samples:
        fit_rows = np.sort(rng.choice(rows, max_fit_samples, replace=False))
    centers = fit_centers(
        np.asarray(take_rows(pool, fit_rows), dtype=np.float64), n,
        seed=int(rng.integers(2**31 - 1)),
    )
    return closest_to_centers(pool, rows, centers, rng)


class CoreSet(Strategy):
    """Core-set selection by k-center greedy (Sener & Savarese, 2018).

    Each pick is the unlabeled item farthest from every labeled and already-picked item, so
    the batch covers the embedding space. Costs ``O(n_pool * (n_labeled + n) * d)`` time and
    ``O(n_pool)`` memory. With nothing labeled the first pick is random. The model is ignored.
    """

    def _select(self, q: Query) -> IntArray:
        rows = q.candidates
        picked: list[int] = []
        if q.labeled.size:
            labeled = np.asarray(take_rows(q.pool, q.labeled), dtype=float)
            _, dist = nearest_center(q.pool, rows, labeled)
        else:
            first = int(q.rng.integers(rows.size))
            picked.append(first)
            dist = np.full(rows.size, np.inf)
            dist[first] = -np.inf
        norms = _sq_norms(q.pool, rows)
        while True:
            if picked:
                x = np.asarray(q.pool[rows[picked[-1]]], dtype=np.float64)
                for s in range(0, rows.size, CHUNK):
                    block = np.asarray(take_rows(q.pool, rows[s : s + CHUNK]),
                                       dtype=np.float64)
                    d2 = norms[s : s + CHUNK] - 2.0 * block @ x + x @ x
                    np.minimum(dist[s : s + CHUNK], d2, out=dist[s : s + CHUNK])
                dist[picked[-1]] = -np.inf
            if len(picked) == q.n:
                break
            picked.append(int(np.argmax(dist)))
        return rows[np.asarray(picked, dtype=np.int64)]
