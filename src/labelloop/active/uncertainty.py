"""Random sampling and the three classic uncertainty strategies.

The uncertainty scores are pure functions of an ``(n, k)`` probability array, higher meaning
more uncertain. With no model yet every item is equally uncertain, so an uncertainty
strategy then samples at random (under the given seed).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from labelloop.active.base import (
    FloatArray,
    IntArray,
    Query,
    Strategy,
    score_candidates,
    top_k,
)


def least_confidence(proba: FloatArray) -> FloatArray:
    """Return ``1 - max_c p_c`` per row."""
    out: FloatArray = 1.0 - np.max(proba, axis=1)
    return out


def margin(proba: FloatArray) -> FloatArray:
    """Return ``1 - (p_(1) - p_(2))`` per row: 1 when the two top classes tie, 0 when sure.

    A single-column input (a model that saw one class) counts as fully confident.
    """
    if proba.shape[1] < 2:
        return np.zeros(proba.shape[0])
    top2 = -np.partition(-proba, 1, axis=1)[:, :2]
    return 1.0 - (top2[:, 0] - top2[:, 1])


def entropy(proba: FloatArray) -> FloatArray:
    """Return the Shannon entropy ``-sum_c p_c log p_c`` per row (natural log, ``0 log 0 = 0``)."""
    logs = np.log(np.where(proba > 0, proba, 1.0))
    out: FloatArray = -np.sum(proba * logs, axis=1)
    return out


class RandomSampling(Strategy):
    """Pick unlabeled items uniformly at random: the baseline every strategy must beat.

    The model is ignored.
    """

    def _select(self, q: Query) -> IntArray:
        return q.rng.choice(q.candidates, q.n, replace=False).astype(np.int64)


class _UncertaintySampling(Strategy):
    """Pick the unlabeled items whose predicted class distribution is most uncertain.

    The ``n`` most uncertain come first; with no model the pick is at random.
    """

    score: ClassVar[Any]

    def _select(self, q: Query) -> IntArray:
        scores = score_candidates(q, type(self).score)
        if scores is None:
            scores = np.zeros(q.candidates.size)
        return q.candidates[top_k(scores, q.n, q.rng)]


class LeastConfidence(_UncertaintySampling):
    """Uncertainty sampling by least confidence, ``1 - max_c p_c``."""

    score = staticmethod(least_confidence)


class MarginSampling(_UncertaintySampling):
    """Uncertainty sampling by the smallest margin between the two most likely classes."""

    score = staticmethod(margin)


class EntropySampling(_UncertaintySampling):
    """Uncertainty sampling by the entropy of the predicted class distribution."""

    score = staticmethod(entropy)
