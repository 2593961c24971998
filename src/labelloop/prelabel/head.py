"""A linear head on embeddings, anchored at the zero-shot class prototypes.

Zero-shot similarity is the head ``softmax(scale * X @ P.T)`` with ``P`` the embedded
class descriptions. Fitting moves ``W`` away from ``P`` only as far as the labels pull
it: the loss is weighted cross-entropy plus ``l2 * ||W - P||^2``. With no labels the head
is exactly zero-shot; with a few it refines the prototypes; with many it becomes an
ordinary softmax regression. Self-training uses the same fit on confident drafts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from labelloop._deps import require

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int_]


def softmax(z: FloatArray) -> FloatArray:
    """Row-wise softmax."""
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    total: FloatArray = e.sum(axis=1, keepdims=True)
    return e / total


@dataclass
class AnchoredHead:
    """Weights ``W`` (k, d), bias ``b`` (k,) and the fixed logit ``scale``."""

    W: FloatArray
    b: FloatArray
    scale: float

    @classmethod
    def zero_shot(cls, prototypes: npt.NDArray[np.floating[Any]], *, scale: float) -> AnchoredHead:
        """The head that scores by cosine similarity to each prototype."""
        return cls(prototypes.astype(np.float64), np.zeros(len(prototypes)), scale)

    def proba(self, X: FloatArray) -> FloatArray:
        """``(n, k)`` class probabilities."""
        return softmax(self.scale * (X @ self.W.T) + self.b)

    def fit(
        self,
        X: FloatArray,
        y: npt.NDArray[np.integer[Any]],
        weights: FloatArray,
        anchor: FloatArray,
        *,
        l2: float,
        iters: int = 150,
        lr: float = 0.05,
    ) -> AnchoredHead:
        """Return a new head fitted by Adam: weighted cross-entropy + ``l2`` pull to ``anchor``."""
        W, b = self.W.copy(), self.b.copy()
        onehot = np.eye(len(W))[y]
        w = weights / weights.sum()
        moments = [[np.zeros_like(W), np.zeros_like(W)], [np.zeros_like(b), np.zeros_like(b)]]
        for t in range(1, iters + 1):
            grad = (softmax(self.scale * (X @ W.T) + b) - onehot) * w[:, None]
            grads = (self.scale * grad.T @ X + 2 * l2 * (W - anchor), grad.sum(axis=0))
            for param, g, (m, v) in zip((W, b), grads, moments, strict=True):
                m *= 0.9
                m += 0.1 * g
                v *= 0.999
                v += 0.001 * g * g
                param -= lr * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
        return AnchoredHead(W, b, self.scale)


def confident_subset(proba: FloatArray, share: float) -> IntArray:
    """Indices of the ``share`` most confident drafts *within each predicted class*.

    Taking a share per class keeps the predicted class balance, so a rare class is not
    swamped by a frequent one during self-training.
    """
    pred = proba.argmax(axis=1)
    conf = proba.max(axis=1)
    picks = []
    for c in range(proba.shape[1]):
        idx = np.flatnonzero(pred == c)
        n = int(np.ceil(share * len(idx)))
        picks.append(idx[np.argsort(-conf[idx], kind="stable")[:n]])
    return np.concatenate(picks) if picks else np.zeros(0, dtype=int)


class EmbeddingHead:
    """Logistic regression on embeddings: the pre-labeler when there is no embedding model.

    With fewer than two labelled classes it predicts the uniform distribution.
    """

    def __init__(self, n_classes: int, *, name: str = "head") -> None:
        self.k = n_classes
        self.name = name
        self.model_: Any = None

    def fit(self, X: npt.NDArray[Any], y: npt.NDArray[np.integer[Any]]) -> EmbeddingHead:
        """Fit on the rows with ``y >= 0`` (``-1``: unlabelled)."""
        rows = np.flatnonzero(np.asarray(y) >= 0)
        self.model_ = None
        if np.unique(y[rows]).size >= 2:
            lr = require("ml", "sklearn.linear_model", feature="EmbeddingHead").LogisticRegression
            self.model_ = lr(max_iter=1000).fit(X[rows], y[rows])
        return self

    def predict_proba(self, X: npt.NDArray[Any]) -> FloatArray:
        """``(n, k)`` class probabilities."""
        out = np.full((len(X), self.k), 1.0 / self.k)
        if self.model_ is not None:
            out[:] = 0.0
            out[:, self.model_.classes_] = self.model_.predict_proba(X)
        return out
