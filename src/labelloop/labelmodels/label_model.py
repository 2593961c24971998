"""The default label model: anchored, class-balanced naive-Bayes EM over source precisions.

Each source ``j`` is described by its *precision table* ``rho[j, o, c] = P(y = c | source j
voted o)``. Under conditional independence of the votes given the true class, the
posterior of an item is

    log P(y = c | votes) = log pi_c + sum over voting sources of (log rho[j, o_j, c] - log pi_c)

so abstains carry no evidence: a source that labels only a few items (a human, a gold
column, a low-coverage LF) is a partially observed column and needs no special case.
EM alternates the posterior above with MAP estimates of ``pi`` and ``rho``, which start
from majority vote. What keeps it stable where Snorkel's model collapses:

* a Dirichlet prior of ``prior_strength`` pseudo-votes, ``prior_accuracy`` of them on the
  voted class, so a source seen on a handful of items stays close to "usually right";
* monotonicity: a vote for ``o`` never counts as evidence *against* ``o`` (an LF that
  votes one class only cannot be flipped into an anti-voter);
* identical columns are merged, so duplicating a source does not double its weight;
* labelled items (``y``, -1 = unknown) are clamped to their class in every EM step,
  which anchors both ``pi`` and the precisions; ``known_accuracy`` fixes a column's
  precision outright (gold answers, calibrated models);
* a guardrail: with enough labelled items, cross-validated accuracy on them is compared
  with majority vote's; when the model is worse it warns and falls back to majority vote.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Literal

import numpy as np
import numpy.typing as npt

from labelloop.core.matrix import ABSTAIN
from labelloop.errors import ValidationError
from labelloop.labelmodels._base import (
    BaseLabelModel,
    TieBreak,
    clamp,
    majority_proba,
    softmax_rows,
)
from labelloop.labelmodels._votes import FloatArray, IntArray, Votes


class GuardrailWarning(UserWarning):
    """The label model did worse than majority vote on labelled items and fell back to it."""


def unique_columns(votes: Votes) -> IntArray:
    """For each column, the index of the first column identical to it."""
    _, _, _, inverse = votes.transpose().compress()
    first = np.full(votes.n_sources, votes.n_sources, dtype=np.int64)
    np.minimum.at(first, inverse, np.arange(votes.n_sources))
    out: IntArray = first[inverse]
    return out


def _log_evidence(votes: Votes, W: FloatArray, log_pi: FloatArray) -> FloatArray:
    """``log pi + sum of W[j, o_j, :]`` over the non-abstain entries of each row."""
    return votes.row_sums(W[votes.col, votes.label]) + log_pi


def _expected_accuracy(P: FloatArray, y: IntArray) -> float:
    """Accuracy of argmax with ties shared: a row tied between t classes scores 1/t if right."""
    top = np.abs(P - P.max(axis=1, keepdims=True)) < 1e-9
    return float(np.mean(top[np.arange(len(y)), y] / top.sum(axis=1)))


class LabelModel(BaseLabelModel):
    """The default label model (see the module docstring for the model).

    Parameters
    ----------
    n_classes:
        Number of classes; inferred from ``L`` and ``y`` (at least 2) when ``None``.
    prior_strength:
        Pseudo-votes of the Dirichlet prior on each source's precision. Larger values
        keep low-coverage sources near ``prior_accuracy``.
    prior_accuracy:
        Prior probability that a vote is right.
    class_balance:
        ``"estimate"`` (EM with add-one smoothing, anchored by any labels) or a fixed
        array of ``n_classes`` class probabilities.
    n_iter, tol:
        EM stops after ``n_iter`` steps or when no posterior moves by more than ``tol``.
    guardrail:
        Compare against majority vote on labelled items (needs ``guardrail_min_labels``
        of them) and fall back to it, with a ``GuardrailWarning``, when worse by more
        than ``guardrail_margin`` (accuracy, 0..1).
    guardrail_folds:
        Cross-validation folds over the labelled items for that comparison.
    tie_break:
        Tie policy of ``predict`` (see ``MajorityVoter``).
    random_state:
        Seed of the fold assignment.

    Attributes
    ----------
    class_balance_ : ndarray (k,)
    weights_ : ndarray (m, k, k)
        ``weights_[j, o, c]``: evidence (log-odds contribution) for class ``c`` when source
        ``j`` votes ``o``. Zero for a column merged into an identical earlier one.
    accuracy_ : ndarray (m,)
        Estimated precision of each source, averaged over the classes it voted.
    duplicate_of_ : ndarray (m,)
        For each column, the first identical column (itself if none).
    guardrail_ : dict or None
        ``{"label_model": acc, "majority_vote": acc, "n_labels": n}`` when checked.
    fallback_ : bool
        True when the guardrail replaced the model by majority vote.
    n_iter_ : int
    """

    def __init__(
        self,
        n_classes: int | None = None,
        *,
        prior_strength: float = 100.0,
        prior_accuracy: float = 0.7,
        class_balance: Literal["estimate"] | npt.ArrayLike = "estimate",
        n_iter: int = 100,
        tol: float = 1e-5,
        guardrail: bool = True,
        guardrail_margin: float = 0.02,
        guardrail_folds: int = 5,
        guardrail_min_labels: int = 20,
        tie_break: TieBreak = "random",
        random_state: int = 0,
    ) -> None:
        self.n_classes = n_classes
        self.prior_strength = prior_strength
        self.prior_accuracy = prior_accuracy
        self.class_balance = class_balance
        self.n_iter = n_iter
        self.tol = tol
        self.guardrail = guardrail
        self.guardrail_margin = guardrail_margin
        self.guardrail_folds = guardrail_folds
        self.guardrail_min_labels = guardrail_min_labels
        self.tie_break = tie_break
        self.random_state = random_state

    # ------------------------------------------------------------------ public
    def fit(
        self,
        L: object,
        y: object = None,
        *,
        known_accuracy: Mapping[int, float] | None = None,
    ) -> LabelModel:
        """Fit on label matrix ``L``.

        Parameters
        ----------
        L:
            ``(n, m)`` votes, -1 = abstain (dense, SciPy sparse holding ``label + 1``, or a
            :class:`~labelloop.core.longtable.LongTable`).
        y:
            Optional ``(n,)`` gold/dev labels with -1 where unknown; they are clamped in
            every EM step, anchor the model and enable the guardrail.
        known_accuracy:
            ``{column: accuracy}`` for sources whose accuracy is known (gold answers,
            a vetted annotator); those precisions are fixed, not learned.
        """
        votes, k, yy = self._check_fit(L, y)
        known = self._check_params(votes.n_sources, k, known_accuracy)
        self.duplicate_of_ = unique_columns(votes)
        for col in known:  # a column of known accuracy speaks for its identical copies
            self.duplicate_of_[self.duplicate_of_ == self.duplicate_of_[col]] = col
        keep = self.duplicate_of_ == np.arange(votes.n_sources)
        pi, W, self.n_iter_ = self._em(votes, yy, k, known, keep)
        self.class_balance_ = pi
        self.weights_ = W
        self.accuracy_ = self._accuracy(votes, W, pi)
        self.fallback_ = False
        self.guardrail_: dict[str, float] | None = None
        n_labels = 0 if yy is None else int(np.sum(yy != ABSTAIN))
        if self.guardrail and yy is not None and n_labels >= self.guardrail_min_labels:
            self._run_guardrail(votes, yy, k, known, keep)
        return self

    def _proba(self, votes: Votes) -> FloatArray:
        if self.fallback_:
            return majority_proba(votes, self.n_classes_)
        return softmax_rows(_log_evidence(votes, self.weights_, np.log(self.class_balance_)))

    # ----------------------------------------------------------------- private
    def _check_params(
        self, m: int, k: int, known_accuracy: Mapping[int, float] | None
    ) -> dict[int, float]:
        if self.prior_strength < 0:
            raise ValidationError(f"prior_strength must be >= 0, got {self.prior_strength}")
        if not 0.0 < self.prior_accuracy < 1.0:
            raise ValidationError(f"prior_accuracy must be in (0, 1), got {self.prior_accuracy}")
        if not isinstance(self.class_balance, str):
            cb = np.asarray(self.class_balance, dtype=float)
            if cb.shape != (k,) or np.any(cb <= 0) or not np.isclose(cb.sum(), 1.0):
                raise ValidationError(
                    f"class_balance must be {k} positive probabilities summing to 1, got {cb}"
                )
        elif self.class_balance != "estimate":
            raise ValidationError(
                f"class_balance must be 'estimate' or an array, got {self.class_balance!r}"
            )
        known = dict(known_accuracy or {})
        for col, acc in known.items():
            if not 0 <= col < m:
                raise ValidationError(f"known_accuracy names column {col}; L has {m} columns")
            if not 0.0 < acc <= 1.0:
                raise ValidationError(f"known_accuracy[{col}] must be in (0, 1], got {acc}")
        return known

    def _em(
        self,
        votes: Votes,
        y: IntArray | None,
        k: int,
        known: Mapping[int, float],
        keep: npt.NDArray[np.bool_],
    ) -> tuple[FloatArray, FloatArray, int]:
        m = votes.n_sources
        Lu, yu, w, _ = votes.only_sources(keep).compress(y)
        R = majority_proba(Lu, k)
        clamp(R, yu)
        rows = Lu.row
        cell = Lu.col * k + Lu.label
        cnt = np.bincount(cell, weights=w[rows], minlength=m * k).reshape(m, k)
        eye = np.eye(k)
        off = (1.0 - self.prior_accuracy) / (k - 1)
        prior = self.prior_strength * (self.prior_accuracy * eye + off * (1 - eye))
        fixed = not isinstance(self.class_balance, str)
        fixed_pi = np.asarray(self.class_balance, float) if fixed else None
        W = np.zeros((m, k, k))
        it = 0
        for it in range(1, self.n_iter + 1):  # noqa: B007 - the count is reported
            pi = fixed_pi if fixed_pi is not None else (w @ R + 1.0) / (w.sum() + k)
            num = np.stack(
                [
                    np.bincount(cell, weights=w[rows] * R[rows, c], minlength=m * k)
                    for c in range(k)
                ],
                axis=1,
            ).reshape(m, k, k)
            rho = (num + prior[None]) / (cnt[:, :, None] + self.prior_strength)
            for col, acc in known.items():
                a = min(acc, 1.0 - 1e-6)
                rho[col] = a * eye + (1.0 - a) / (k - 1) * (1 - eye)
            W = np.log(np.maximum(rho, 1e-300)) - np.log(pi)[None, None, :]
            diag = W[:, np.arange(k), np.arange(k)]
            W = np.minimum(W, diag[:, :, None])
            W[~keep] = 0.0
            R_new = softmax_rows(_log_evidence(Lu, W, np.log(pi)))
            clamp(R_new, yu)
            delta = float(np.abs(R_new - R).max()) if R.size else 0.0
            R = R_new
            if delta < self.tol:
                break
        return pi, W, it

    def _accuracy(self, votes: Votes, W: FloatArray, pi: FloatArray) -> FloatArray:
        m, k = W.shape[:2]
        rho = np.exp(W + np.log(pi)[None, None, :])
        rho /= rho.sum(axis=2, keepdims=True)
        cells = np.bincount(votes.col * k + votes.label, minlength=m * k)
        share = cells.reshape(m, k).astype(float)
        share /= np.maximum(share.sum(axis=1, keepdims=True), 1.0)
        acc: FloatArray = np.einsum("mo,mo->m", share, rho[:, np.arange(k), np.arange(k)])
        return acc

    def _run_guardrail(
        self,
        votes: Votes,
        y: IntArray,
        k: int,
        known: Mapping[int, float],
        keep: npt.NDArray[np.bool_],
    ) -> None:
        labelled = np.nonzero(y != ABSTAIN)[0]
        rng = np.random.default_rng(self.random_state)
        folds = rng.permutation(len(labelled)) % self.guardrail_folds
        P = np.zeros((len(labelled), k))
        for f in range(self.guardrail_folds):
            held = labelled[folds == f]
            y_f = y.copy()
            y_f[held] = ABSTAIN
            pi, W, _ = self._em(votes, y_f, k, known, keep)
            P[folds == f] = softmax_rows(_log_evidence(votes, W, np.log(pi))[held])
        truth = y[labelled]
        lm = _expected_accuracy(P, truth)
        mv = _expected_accuracy(majority_proba(votes, k)[labelled], truth)
        self.guardrail_ = {"label_model": lm, "majority_vote": mv, "n_labels": len(labelled)}
        if lm < mv - self.guardrail_margin:
            self.fallback_ = True
            warnings.warn(
                f"LabelModel scored {lm:.3f} vs majority vote {mv:.3f} in cross-validation on "
                f"{len(labelled)} labelled items; falling back to majority vote",
                GuardrailWarning,
                stacklevel=2,
            )
