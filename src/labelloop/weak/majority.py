"""Majority vote with an explicit tie policy."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from labelloop.weak._base import BaseLabelModel, TieBreak, infer_n_classes, to_dense


def vote_counts(L: npt.NDArray[np.int64], k: int) -> npt.NDArray[np.float64]:
    """Number of votes per class for each row, shape ``(n, k)``."""
    counts = np.zeros((L.shape[0], k))
    for c in range(k):
        counts[:, c] = np.equal(L, c).sum(axis=1)
    return counts


def majority_proba(L: npt.NDArray[np.int64], k: int) -> npt.NDArray[np.float64]:
    """Vote shares per row; a row without votes gets uniform probabilities."""
    counts = vote_counts(L, k)
    total = counts.sum(axis=1, keepdims=True)
    return np.where(total > 0, counts / np.maximum(total, 1.0), 1.0 / k)


class MajorityVoter(BaseLabelModel):
    """Each source's vote counts once; the posterior is the share of votes per class.

    Parameters
    ----------
    n_classes:
        Number of classes; inferred from ``L`` (at least 2) when ``None``.
    tie_break:
        How ``predict`` resolves ties, including rows where every source abstains
        (uniform probabilities). ``"random"`` (default) is Snorkel's and WRENCH's rule:
        the class is chosen among the tied ones by the SHA-1 of the row index, so
        published WRENCH majority-vote numbers reproduce exactly. ``"lowest"`` takes the
        lowest class index; ``"abstain"`` predicts -1.

    Attributes
    ----------
    n_classes_, n_sources_:
        Set by ``fit``.
    """

    def __init__(self, n_classes: int | None = None, *, tie_break: TieBreak = "random") -> None:
        self.n_classes = n_classes
        self.tie_break = tie_break

    def fit(self, L: object, y: object = None) -> MajorityVoter:
        """Record the number of classes and sources; majority vote learns nothing else."""
        M = to_dense(L)
        self.n_classes_ = infer_n_classes(self.n_classes, M, y)
        self.n_sources_ = M.shape[1]
        return self

    def predict_proba(self, L: object) -> npt.NDArray[np.float64]:
        """Vote shares per row, uniform where every source abstains."""
        M = self._check_predict_input(L)
        return majority_proba(M, self.n_classes_)
