"""Uncertainty and diversity together: the default strategy, and cold start.

``HybridSampling`` mixes diverse mini-batch active learning (Zhdanov, 2019) and
Cluster-Margin: shortlist the ``candidates * n`` most uncertain items, cluster the shortlist
into ``n`` groups with k-means weighted by uncertainty, and label the item closest to each
centroid (or, with ``pick="uncertain"``, the most uncertain item of each cluster). A batch of
pure top-uncertainty items is redundant (near-duplicates sit on the same stretch of the
decision boundary); the clustering spends the batch on different stretches.

``ColdStart`` picks the first batch before any human label exists, from a zero-shot or
label-model posterior when one is given: it spreads the batch evenly over the predicted
classes and, within each, over k-means clusters of the embeddings.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from labelloop.active.base import (
    FloatArray,
    IntArray,
    Query,
    Strategy,
    score_candidates,
    take_rows,
    top_k,
)
from labelloop.active.diversity import (
    closest_to_centers,
    fit_centers,
    nearest_center,
    representatives,
)
from labelloop.active.uncertainty import entropy, least_confidence, margin
from labelloop.errors import ValidationError

_SCORES = {"margin": margin, "entropy": entropy, "least_confidence": least_confidence}


class ColdStart(Strategy):
    """First batch without labels: class-balanced (by the prior posterior) k-means representatives.

    ``model_or_proba`` is the prior: an ``(n_pool, k)`` posterior from zero-shot pre-labeling
    or the label model, or a model with ``predict_proba``. With ``None`` it is plain k-means
    diversity over the unlabeled pool.

    Parameters
    ----------
    max_fit_samples : int, default=100_000
        Rows sampled to fit each k-means (see ``KMeansDiversity``).
    """

    def __init__(self, *, max_fit_samples: int = 100_000) -> None:
        self.max_fit_samples = max_fit_samples

    def _select(self, q: Query) -> IntArray:
        return cold_start(q, self.max_fit_samples)


def cold_start(q: Query, max_fit_samples: int) -> IntArray:
    """Select for a validated query with :class:`ColdStart`'s rule."""
    predicted = score_candidates(q, lambda p: np.argmax(p, axis=1).astype(np.float64))
    if predicted is None:
        return representatives(q.pool, q.candidates, q.n, q.rng, max_fit_samples)
    classes, sizes = np.unique(predicted, return_counts=True)
    quota = _balanced_quota(sizes, q.n)
    picks = [
        representatives(q.pool, q.candidates[predicted == c], int(m), q.rng, max_fit_samples)
        for c, m in zip(classes, quota, strict=True)
        if m
    ]
    return q.rng.permutation(np.concatenate(picks)).astype(np.int64)


def _balanced_quota(sizes: npt.NDArray[np.int64], n: int) -> npt.NDArray[np.int64]:
    """Split ``n`` as evenly as possible over groups, never more than a group holds."""
    quota = np.zeros_like(sizes)
    left = n
    while left:
        open_ = np.flatnonzero(quota < sizes)
        share = max(1, left // open_.size)
        for g in open_:
            add = min(share, sizes[g] - quota[g], left)
            quota[g] += add
            left -= add
            if not left:
                break
    return quota


class HybridSampling(Strategy):
    """Uncertainty-weighted k-means over the most uncertain items (the default strategy).

    Parameters
    ----------
    uncertainty : {"margin", "entropy", "least_confidence"}, default="margin"
        The uncertainty score that builds the shortlist and weighs the clustering.
    candidates : int, default=10
        The shortlist holds ``candidates * n`` items; ``1`` is plain uncertainty sampling,
        larger values trade uncertainty for diversity.
    pick : {"centroid", "uncertain"}, default="centroid"
        Which member of each cluster to label: the one closest to the centroid (Zhdanov) or
        the most uncertain one (as in Cluster-Margin).
    max_fit_samples : int, default=100_000
        Rows sampled for k-means when there is no model yet (cold start).

    Notes
    -----
    With no model (``model_or_proba=None``) it falls back to :class:`ColdStart`. Scoring is
    chunked and the shortlist is found by partition, so a batch of 20 from a 1M x 384 pool
    costs one pass of ``predict_proba`` plus a k-means on 200 points.
    """

    def __init__(
        self,
        *,
        uncertainty: Literal["margin", "entropy", "least_confidence"] = "margin",
        candidates: int = 10,
        pick: Literal["centroid", "uncertain"] = "centroid",
        max_fit_samples: int = 100_000,
    ) -> None:
        self.uncertainty = uncertainty
        self.candidates = candidates
        self.pick = pick
        self.max_fit_samples = max_fit_samples

    def _check_params(self) -> None:
        if self.uncertainty not in _SCORES:
            raise ValidationError(
                f"uncertainty must be one of {sorted(_SCORES)}, got {self.uncertainty!r}"
            )
        if (
            isinstance(self.candidates, bool)
            or not isinstance(self.candidates, int)
            or (self.candidates < 1)
        ):
            raise ValidationError(f"candidates must be an integer >= 1, got {self.candidates!r}")
        if self.pick not in ("centroid", "uncertain"):
            raise ValidationError(f"pick must be 'centroid' or 'uncertain', got {self.pick!r}")

    def _select(self, q: Query) -> IntArray:
        scores = score_candidates(q, _SCORES[self.uncertainty])
        if scores is None:
            return cold_start(q, self.max_fit_samples)
        short = top_k(scores, min(q.candidates.size, self.candidates * q.n), q.rng)
        if short.size == q.n:
            return q.candidates[short]
        rows = q.candidates[short]
        weights = np.maximum(scores[short], 1e-6)
        centers = fit_centers(
            np.asarray(take_rows(q.pool, rows), dtype=np.float64), q.n, seed=q.seed(),
            sample_weight=weights,
        )
        if self.pick == "centroid":
            return closest_to_centers(q.pool, rows, centers, q.rng)
        return rows[
            _most_uncertain_per_cluster(
                nearest_center(q.pool, rows, centers)[0], scores[short], q.n
            )
        ]


def _most_uncertain_per_cluster(
    cluster: npt.NDArray[np.int64], scores: FloatArray, n: int
) -> IntArray:
    """Positions of the most uncertain member of each cluster, topped up to ``n`` by score.

    ``scores`` are sorted best first (a shortlist), so the first member seen per cluster is
    its most uncertain one; clusters left empty are filled with the next most uncertain rows.
    """
    _, first = np.unique(cluster, return_index=True)
    chosen = np.sort(first)
    if chosen.size < n:
        rest = np.setdiff1d(np.arange(scores.size), chosen)
        chosen = np.concatenate([chosen, rest[: n - chosen.size]])
    return chosen.astype(np.int64)
