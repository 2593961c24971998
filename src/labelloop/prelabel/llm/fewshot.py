"""Few-shot examples chosen per item: the labelled texts most similar to it.

Similarity is the cosine of the items' embeddings (the MiniLM vectors the store caches).
An item is never its own example, so drafts of human-labelled items -- the ones the
calibration is estimated from -- are out-of-sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from labelloop.errors import ValidationError


@dataclass(frozen=True)
class Example:
    """One labelled text shown to the model."""

    text: str
    label: int


@dataclass(frozen=True)
class ExamplePool:
    """Labelled texts with their embeddings, to pick examples from.

    Attributes
    ----------
    ids:
        ``(m,)`` item id of each example (to leave an item's own label out).
    texts, labels:
        The examples' texts and class indices.
    vectors:
        ``(m, dim)`` their embeddings.
    """

    ids: Sequence[int]
    texts: Sequence[str]
    labels: Sequence[int]
    vectors: npt.NDArray[np.float32]

    def __post_init__(self) -> None:
        m = len(self.ids)
        if not len(self.texts) == len(self.labels) == m or self.vectors.shape[0] != m:
            raise ValidationError(
                f"example pool parts differ in length: {m} ids, {len(self.texts)} texts, "
                f"{len(self.labels)} labels, {self.vectors.shape[0]} vectors"
            )

    def nearest(self, queries: npt.NDArray[np.float32], query_ids: Sequence[int | None],
                k: int) -> list[list[Example]]:
        """The ``k`` most similar examples of each query, most similar first."""
        if k <= 0 or not len(self.ids):
            return [[] for _ in query_ids]
        pool = _unit(self.vectors)
        sims = _unit(queries) @ pool.T
        own = {i: r for r, i in enumerate(self.ids)}
        for q, item in enumerate(query_ids):
            if item is not None and item in own:
                sims[q, own[item]] = -np.inf
        k = min(k, len(self.ids))
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        out = []
        for q in range(len(query_ids)):
            order = top[q][np.argsort(-sims[q, top[q]], kind="stable")]
            out.append([Example(self.texts[j], int(self.labels[j]))
                        for j in order if np.isfinite(sims[q, j])])
        return out


def _unit(X: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    X = np.asarray(X, dtype=np.float64)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    unit: npt.NDArray[np.float64] = X / np.where(norms == 0, 1.0, norms)
    return unit
