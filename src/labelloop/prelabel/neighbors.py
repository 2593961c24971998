"""Nearest neighbours by cosine similarity, in blocks to bound memory."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

BLOCK = 2048
SAME = 1.0 - 1e-5
"""Similarity at or above which a reference row counts as the query itself."""


def nearest_neighbors(
    queries: npt.NDArray[np.floating[Any]],
    reference: npt.NDArray[np.floating[Any]],
    k: int,
    *,
    exclude_self: bool,
) -> npt.NDArray[np.int_]:
    """Indices ``(n_queries, k)`` of the ``k`` most similar reference rows.

    Rows must be unit length, so a dot product is the cosine similarity. With
    ``exclude_self`` a reference row identical to the query (the query itself, when
    queries are part of the reference) is skipped. Cost is ``O(n_queries * n_ref * dim)``.
    """
    k = min(k, len(reference) - (1 if exclude_self else 0))
    if k <= 0:
        return np.zeros((len(queries), 0), dtype=int)
    ref = reference.astype(np.float32)
    out = np.empty((len(queries), k), dtype=int)
    take = k + 1 if exclude_self else k
    for start in range(0, len(queries), BLOCK):
        sims = queries[start : start + BLOCK].astype(np.float32) @ ref.T
        top = np.argpartition(-sims, take - 1, axis=1)[:, :take]
        top_sims = np.take_along_axis(sims, top, axis=1)
        order = np.argsort(-top_sims, axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        top_sims = np.take_along_axis(top_sims, order, axis=1)
        if exclude_self:
            is_self = top_sims[:, 0] >= SAME
            top = np.where(is_self[:, None], top[:, 1:], top[:, :-1])
        out[start : start + BLOCK] = top
    return out
