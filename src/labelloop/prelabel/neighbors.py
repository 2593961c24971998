"""Nearest neighbours by cosine similarity, without comparing every item with every other.

Two methods behind :func:`nearest_neighbors`:

- ``"exact"``: blocked dot products; a block of queries against the whole reference at a
  time, sized so the block's similarities stay under :data:`BLOCK_BYTES`. Cost
  ``O(n_queries * n_ref * dim)``: the method for small sets, and the reference for tests.
- ``"hnsw"``: an HNSW graph index from FAISS (``faiss-cpu``, the ``ann`` extra) over the
  reference, inner-product metric; building and searching are ``O(n log n)``. Recall against
  exact is measured in ``tests/unit/prelabel/test_neighbors.py`` (>= 0.95 at k = 10).

``"auto"`` (default) takes HNSW from :data:`ANN_MIN_ITEMS` reference rows on when FAISS is
installed, exact otherwise. The last index built is kept (keyed by a hash of the reference),
so pre-labeling's two passes over the same corpus build it once.
"""

from __future__ import annotations

import hashlib
import importlib.util
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from labelloop._deps import require
from labelloop.errors import ValidationError

BLOCK_BYTES = 256 * 2**20
"""Memory one block of exact similarities may take."""
ANN_MIN_ITEMS = 20_000
"""Reference rows from which ``"auto"`` uses the HNSW index."""
SAME = 1.0 - 1e-5
"""Similarity at or above which a reference row counts as the query itself."""
# 50,000 clustered 384-d vectors, all against all, k = 10 on 2 busy cores: M 32 / efC 80 /
# efS 96 took 34 s (recall 1.000), M 16 / efC 64 / efS 48 20 s (0.996); exact ~10x longer
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64
HNSW_EF_SEARCH = 64

Method = Literal["auto", "exact", "hnsw"]

_INDEX: dict[str, Any] = {}


def nearest_neighbors(
    queries: npt.NDArray[np.floating[Any]],
    reference: npt.NDArray[np.floating[Any]],
    k: int,
    *,
    exclude_self: bool,
    method: Method = "auto",
) -> npt.NDArray[np.int_]:
    """Indices ``(n_queries, k)`` of the ``k`` most similar reference rows, most similar first.

    Rows must be unit length, so a dot product is the cosine similarity. With
    ``exclude_self`` a reference row identical to the query (the query itself, when
    queries are part of the reference) is skipped.

    Parameters
    ----------
    method:
        ``"exact"``, ``"hnsw"`` (approximate; needs ``pip install 'labelloop[ann]'``) or
        ``"auto"``: HNSW from :data:`ANN_MIN_ITEMS` reference rows when FAISS is installed.

    Raises
    ------
    ValidationError
        For an unknown method or arrays that are not 2-D with the same width.
    """
    if method not in ("auto", "exact", "hnsw"):
        raise ValidationError(f"method must be 'auto', 'exact' or 'hnsw', got {method!r}")
    q = np.ascontiguousarray(queries, dtype=np.float32)
    ref = np.ascontiguousarray(reference, dtype=np.float32)
    if q.ndim != 2 or ref.ndim != 2 or (len(q) and len(ref) and q.shape[1] != ref.shape[1]):
        raise ValidationError(
            f"queries and reference must be 2-D with one width, got {q.shape} and {ref.shape}"
        )
    k = min(k, len(ref) - (1 if exclude_self else 0))
    if k <= 0 or not len(q):
        return np.zeros((len(q), max(k, 0)), dtype=int)
    take = k + 1 if exclude_self else k
    if method == "auto":
        use_ann = len(ref) >= ANN_MIN_ITEMS and importlib.util.find_spec("faiss") is not None
        method = "hnsw" if use_ann else "exact"
    if method == "hnsw":
        top, top_sims = _hnsw_search(q, ref, take)
    else:
        top, top_sims = _exact_search(q, ref, take)
    if exclude_self:
        is_self = top_sims[:, 0] >= SAME
        top = np.where(is_self[:, None], top[:, 1:], top[:, :-1])
    return top.astype(int, copy=False)


def _exact_search(
    q: npt.NDArray[np.float32], ref: npt.NDArray[np.float32], take: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Top ``take`` by blocked dot products, sorted by similarity (ties: lower index)."""
    block = max(1, BLOCK_BYTES // (4 * len(ref)))
    out = np.empty((len(q), take), dtype=np.int64)
    out_sims = np.empty((len(q), take), dtype=np.float32)
    for start in range(0, len(q), block):
        sims = q[start : start + block] @ ref.T
        top = np.argpartition(-sims, take - 1, axis=1)[:, :take]
        top_sims = np.take_along_axis(sims, top, axis=1)
        order = np.lexsort((top, -top_sims), axis=1)
        out[start : start + block] = np.take_along_axis(top, order, axis=1)
        out_sims[start : start + block] = np.take_along_axis(top_sims, order, axis=1)
    return out, out_sims


def _hnsw_search(
    q: npt.NDArray[np.float32], ref: npt.NDArray[np.float32], take: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Top ``take`` from an HNSW index over ``ref`` (built once per reference)."""
    faiss = require("ann", "faiss", feature="approximate nearest neighbours")
    key = f"{ref.shape}:{hashlib.sha1(ref.data).hexdigest()}"  # no copy
    index = _INDEX.get(key)
    if index is None:
        index = faiss.IndexHNSWFlat(ref.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.add(ref)
        _INDEX.clear()  # one index at a time: they are as large as the reference
        _INDEX[key] = index
    index.hnsw.efSearch = max(HNSW_EF_SEARCH, 2 * take)
    sims, top = index.search(q, take)
    missing = top < 0  # fewer reachable rows than asked: pad with the best found
    if missing.any():
        top = np.where(missing, top[:, :1], top)
        sims = np.where(missing, -np.inf, sims)
    return top.astype(np.int64), sims.astype(np.float32)
