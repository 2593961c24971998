"""Dawid-Skene with abstain as an outcome of its own."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from labelloop.core.matrix import ABSTAIN
from labelloop.errors import ValidationError
from labelloop.weak._base import (
    BaseLabelModel,
    TieBreak,
    check_targets,
    compress_rows,
    infer_n_classes,
    softmax_rows,
    to_dense,
)
from labelloop.weak.majority import majority_proba

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _log_lik(L: IntArray, log_theta: FloatArray, log_pi: FloatArray) -> FloatArray:
    """``log pi_c + sum_j log theta[j, c, outcome_ij]`` with outcome ``k`` meaning abstain."""
    n, m = L.shape
    k = log_pi.shape[0]
    out = np.where(L == ABSTAIN, k, L)
    S = np.tile(log_pi, (n, 1))
    for c in range(k):
        S[:, c] += log_theta[np.arange(m)[None, :], c, out].sum(axis=1)
    return S


class DawidSkene(BaseLabelModel):
    """Dawid and Skene's confusion-matrix model, fitted by EM, with abstain modelled.

    Each source ``j`` has a confusion matrix ``theta[j, c, o] = P(source votes o | y = c)``
    over ``k + 1`` outcomes, the last being *abstain*. Modelling the abstain is what keeps
    the model informative on labeling functions that vote for one class only: such a
    function's evidence is *how much more often it fires* on its class, which a
    Dawid-Skene that drops abstains (crowd-kit's) cannot see, and it degenerates.

    Parameters
    ----------
    n_classes:
        Number of classes; inferred when ``None``.
    smoothing:
        Dirichlet pseudo-count added to every cell of every confusion row, plus
        ``diagonal_prior`` more on the correct-vote cell.
    diagonal_prior:
        Extra pseudo-counts for a correct vote.
    n_iter, tol:
        EM stops after ``n_iter`` steps or when no posterior moves by more than ``tol``.
    tie_break:
        Tie policy of ``predict``.

    Attributes
    ----------
    confusion_ : ndarray (m, k, k + 1)
    class_balance_ : ndarray (k,)
    n_iter_ : int
    """

    def __init__(
        self,
        n_classes: int | None = None,
        *,
        smoothing: float = 0.01,
        diagonal_prior: float = 1.0,
        n_iter: int = 100,
        tol: float = 1e-5,
        tie_break: TieBreak = "random",
    ) -> None:
        self.n_classes = n_classes
        self.smoothing = smoothing
        self.diagonal_prior = diagonal_prior
        self.n_iter = n_iter
        self.tol = tol
        self.tie_break = tie_break

    def fit(self, L: object, y: object = None) -> DawidSkene:
        """Fit by EM from a majority-vote start; ``y`` (-1 = unknown) clamps labelled rows."""
        if self.smoothing < 0 or self.diagonal_prior < 0:
            raise ValidationError(
                "smoothing and diagonal_prior must be >= 0, got "
                f"{self.smoothing}, {self.diagonal_prior}"
            )
        M = to_dense(L)
        k = infer_n_classes(self.n_classes, M, y)
        yy = None if y is None else check_targets(y, M.shape[0], k, partial=True)
        m = M.shape[1]
        Lu, yu, w, _ = compress_rows(M, yy)
        labelled = yu != ABSTAIN
        R = majority_proba(Lu, k)
        R[labelled] = np.eye(k)[yu[labelled]]
        out = np.where(Lu == ABSTAIN, k, Lu)
        prior = np.full((k, k + 1), self.smoothing)
        prior[:, :k] += self.diagonal_prior * np.eye(k)
        it = 0
        for it in range(1, self.n_iter + 1):  # noqa: B007 - the count is reported
            pi = (w @ R + 1.0) / (w.sum() + k)
            counts = np.zeros((m, k, k + 1))
            for o in range(k + 1):
                counts[:, :, o] = ((out == o) * w[:, None]).T @ R
            theta = counts + prior[None]
            theta /= theta.sum(axis=2, keepdims=True)
            log_theta = np.log(np.maximum(theta, 1e-300))
            R_new = softmax_rows(_log_lik(Lu, log_theta, np.log(pi)))
            R_new[labelled] = np.eye(k)[yu[labelled]]
            delta = float(np.abs(R_new - R).max()) if R.size else 0.0
            R = R_new
            if delta < self.tol:
                break
        self.n_classes_ = k
        self.n_sources_ = m
        self.class_balance_ = pi
        self.confusion_ = theta
        self.n_iter_ = it
        return self

    def predict_proba(self, L: object) -> FloatArray:
        """Posterior class probabilities per row; rows sum to 1."""
        M = self._check_predict_input(L)
        log_theta = np.log(np.maximum(self.confusion_, 1e-300))
        return softmax_rows(_log_lik(M, log_theta, np.log(self.class_balance_)))
