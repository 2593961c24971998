"""Models with one confusion matrix per source: Dawid-Skene, one-coin, honeypot-weighted vote.

EM runs on the distinct rows of ``L`` (identical rows collapsed, with weights) and its E- and
M-steps are weighted ``bincount`` passes over the votes, so one iteration costs two passes
over the non-abstain entries: the sparse-product speed of a crowd aggregator and the
row-compression speed of a labeling-function model, with numpy alone.
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np

from labelloop.errors import ValidationError
from labelloop.labelmodels._base import (
    BaseLabelModel,
    TieBreak,
    check_positive,
    clamp,
    majority_proba,
    normalise_log,
    softmax_rows,
)
from labelloop.labelmodels._votes import FloatArray, IntArray, Votes

Abstain = Literal["evidence", "missing"]


def _soft_counts(votes: Votes, w: FloatArray, R: FloatArray, m: int, k: int) -> FloatArray:
    """``counts[j, c, o]``: weight of class-``c`` rows (by ``R``) where source ``j`` voted ``o``."""
    cell = votes.col * k + votes.label
    wr = w[votes.row]
    flat: FloatArray = np.stack(
        [np.bincount(cell, weights=wr * R[votes.row, c], minlength=m * k) for c in range(k)],
        axis=1,
    ).astype(np.float64)
    out: FloatArray = flat.reshape(m, k, k).transpose(0, 2, 1)
    return out


def one_coin(accuracy: FloatArray, k: int) -> FloatArray:
    """Confusion matrices with ``accuracy`` on the diagonal and the rest spread evenly."""
    p = np.clip(accuracy, 1e-6, 1 - 1e-6)[:, None, None]
    eye = np.eye(k)[None]
    out: FloatArray = p * eye + (1 - p) / (k - 1) * (1 - eye)
    return out


class _ConfusionModel(BaseLabelModel):
    """Posterior from ``class_balance_`` and ``confusions_``; EM fit for the subclasses.

    ``confusions_[j, c, o] = P(source j votes o | true class c)``; with abstains as evidence
    it has a last outcome ``o = k``, the abstain.
    """

    n_iter: int = 100
    tol: float = 1e-6
    smoothing: float = 0.01
    class_balance_: FloatArray
    confusions_: FloatArray

    def _abstain_is_evidence(self) -> bool:
        return False

    def _m_step(self, counts: FloatArray, class_totals: FloatArray) -> None:
        """Set ``class_balance_`` and ``confusions_`` from soft counts."""
        raise NotImplementedError  # pragma: no cover - abstract

    def _log_scores(self, votes: Votes) -> FloatArray:
        k = self.n_classes_
        log_conf = np.log(np.maximum(self.confusions_, 1e-300))
        base = np.log(self.class_balance_)
        if self._abstain_is_evidence():
            base = base + log_conf[:, :, k].sum(axis=0)
            log_conf = log_conf[:, :, :k] - log_conf[:, :, k:]
        W = log_conf.transpose(0, 2, 1).reshape(-1, k)  # row j * k + o: evidence per class
        out: FloatArray = votes.row_sums(W[votes.col * k + votes.label]) + base
        return out

    def _proba(self, votes: Votes) -> FloatArray:
        return softmax_rows(self._log_scores(votes))

    def _counts(self, votes: Votes, w: FloatArray, R: FloatArray) -> FloatArray:
        m, k = self.n_sources_, self.n_classes_
        counts = _soft_counts(votes, w, R, m, k)
        if self._abstain_is_evidence():
            abstained = np.maximum(w @ R - counts.sum(axis=2), 0.0)
            counts = np.concatenate([counts, abstained[:, :, None]], axis=2)
        return counts

    def _em(self, votes: Votes, y: IntArray | None) -> None:
        """Fit by EM from majority vote; gold rows are clamped and start the confusions."""
        if self.n_iter < 1 or self.tol < 0:
            raise ValidationError(
                f"n_iter must be >= 1 and tol >= 0, got n_iter={self.n_iter}, tol={self.tol}"
            )
        check_positive(smoothing=self.smoothing)
        u, yu, w, _ = votes.compress(y)
        k = self.n_classes_
        gold = yu >= 0
        R = majority_proba(u, k)
        clamp(R, yu)
        n_answers = max(float(w[u.row].sum()), 1.0)
        self.log_likelihood_ = -np.inf
        it = 0
        for it in range(1, self.n_iter + 1):
            counts = self._counts(u, w, R)
            if it == 1 and gold.any():
                counts = self._gold_start(u, w, yu, counts)
            self._m_step(counts, w @ R)
            R, log_norm = normalise_log(self._log_scores(u))
            clamp(R, yu)
            ll = float(w @ log_norm) / n_answers
            improved = ll - self.log_likelihood_
            self.log_likelihood_ = ll
            if improved < self.tol:
                break
        self.n_iter_ = it

    def _gold_start(
        self, votes: Votes, w: FloatArray, y: IntArray, counts: FloatArray
    ) -> FloatArray:
        """First M-step counts: gold rows only, for sources that voted on gold.

        Starting from what gold says about a source keeps EM from settling on a wrong but
        self-consistent majority (e.g. colluding annotators).
        """
        k = self.n_classes_
        on_gold = np.zeros((y.size, k))
        known = np.flatnonzero(y >= 0)
        on_gold[known, y[known]] = 1.0
        from_gold = self._counts(votes, w, on_gold)
        answered = from_gold[:, :, :k].sum(axis=(1, 2)) > 0
        out: FloatArray = np.where(answered[:, None, None], from_gold, counts)
        return out


class DawidSkene(_ConfusionModel):
    """Dawid and Skene's (1979) model: one full confusion matrix per source, fitted by EM.

    Each source's confusion matrix is shrunk towards its *class-wise* model (one accuracy per
    true class, errors spread evenly) by ``shrinkage`` pseudo-labels per true class: a source
    with many votes gets its own full matrix, one with few the simpler model, which is what
    sparse crowds need (on two classes both coincide).

    Parameters
    ----------
    n_classes:
        Number of classes; inferred from ``L`` and ``y`` (at least 2) when ``None``.
    abstain:
        What a -1 in ``L`` means.

        * ``"evidence"`` (default, labeling functions): the source looked and abstained, an
          outcome of its own with a learned rate per true class. This is what keeps the model
          informative on labeling functions that vote one class only: their evidence is *how
          much more often they fire* on their class, which a model that drops abstains cannot
          see.
        * ``"missing"`` (crowd data): the source was not asked; the cell carries no evidence.
          :func:`labelloop.quality.aggregate` uses it, as absent rows of a long table are.
    n_iter, tol:
        EM stops after ``n_iter`` iterations or when the mean log-likelihood per vote improves
        by less than ``tol``.
    smoothing:
        Dirichlet pseudo-count added to every confusion cell and to the class prior.
    shrinkage:
        Pseudo-labels per true class pulling each confusion row towards the class-wise model;
        0 gives plain Dawid-Skene.
    tie_break:
        Tie rule of ``predict`` (see :mod:`labelloop.labelmodels`).

    Attributes
    ----------
    confusions_ : ndarray (m, k, k), or (m, k, k + 1) with abstains as evidence
        ``P(source j votes o | true class c)``; the last outcome is the abstain.
    class_balance_ : ndarray (k,)
    n_iter_, log_likelihood_ :
        EM iterations run and the final mean log-likelihood per vote.

    Notes
    -----
    The defaults (``smoothing=0.1``, ``shrinkage=3``, ``tol=1e-6``) were chosen on the crowd
    sets of ``benchmarks/aggregation.py``, so that benchmark is not a held-out estimate.
    """

    def __init__(
        self,
        n_classes: int | None = None,
        *,
        abstain: Abstain = "evidence",
        n_iter: int = 100,
        tol: float = 1e-6,
        smoothing: float = 0.1,
        shrinkage: float = 3.0,
        tie_break: TieBreak = "random",
    ) -> None:
        self.n_classes = n_classes
        self.abstain = abstain
        self.n_iter = n_iter
        self.tol = tol
        self.smoothing = smoothing
        self.shrinkage = shrinkage
        self.tie_break = tie_break

    def fit(self, L: object, y: object = None) -> DawidSkene:
        """Fit by EM; ``y`` (gold per row, -1 unknown) clamps its rows and anchors EM."""
        if self.abstain not in get_args(Abstain):
            raise ValidationError(
                f"abstain must be one of {get_args(Abstain)}, got {self.abstain!r}"
            )
        check_positive(shrinkage=self.shrinkage)
        votes, _, yy = self._check_fit(L, y)
        self._em(votes, yy)
        return self

    def _abstain_is_evidence(self) -> bool:
        return self.abstain == "evidence"

    def _m_step(self, counts: FloatArray, class_totals: FloatArray) -> None:
        k, s = self.n_classes_, self.smoothing
        prior = class_totals + s
        self.class_balance_ = prior / prior.sum()
        if self.shrinkage:
            # the class-wise model: per true class, the rate of right votes (and of abstains
            # when they are evidence), the rest spread evenly over the wrong classes
            outcomes = counts.shape[2]
            total = counts @ np.ones(outcomes) + (outcomes - k + 2) * s
            right = (np.diagonal(counts, axis1=1, axis2=2) + s) / total
            eye = np.eye(k, outcomes)[None]
            classwise = right[:, :, None] * eye
            wrong = 1 - right
            if outcomes > k:
                abstained = (counts[:, :, k] + s) / total
                classwise[:, :, k] = abstained
                wrong = wrong - abstained
            wrong_cells = np.zeros((k, outcomes))
            wrong_cells[:, :k] = 1 - np.eye(k)
            classwise += (wrong / (k - 1))[:, :, None] * wrong_cells[None]
            counts = counts + self.shrinkage * classwise
        counts = counts + s
        self.confusions_ = counts / counts.sum(axis=2, keepdims=True)


class OneCoin(_ConfusionModel):
    """One-coin model: each source is right with probability ``p``, else uniformly wrong.

    The posterior is a weighted vote with weight ``log(p (k-1) / (1-p))`` per source, fitted
    by EM. One parameter per source, so it suits sources with few votes better than
    :class:`DawidSkene`, but it cannot model class-specific confusions. As in the classic
    one-coin model (Karger, Oh and Shah) the class prior is uniform and nobody is worse than
    chance: with a learned prior and adversarial weights, EM on biased crowds collapses onto
    one class. Abstains carry no evidence.

    Parameters
    ----------
    n_classes:
        Number of classes; inferred when ``None``.
    n_iter, tol:
        As in :class:`DawidSkene`.
    smoothing:
        Pseudo-count of right and of wrong votes per source.
    tie_break:
        Tie rule of ``predict``.

    Attributes
    ----------
    accuracies_ : ndarray (m,)
        Estimated accuracy per source.
    confusions_, class_balance_, n_iter_, log_likelihood_ :
        As in :class:`DawidSkene` (the class balance is uniform).
    """

    def __init__(
        self,
        n_classes: int | None = None,
        *,
        n_iter: int = 100,
        tol: float = 1e-6,
        smoothing: float = 0.01,
        tie_break: TieBreak = "random",
    ) -> None:
        self.n_classes = n_classes
        self.n_iter = n_iter
        self.tol = tol
        self.smoothing = smoothing
        self.tie_break = tie_break

    def fit(self, L: object, y: object = None) -> OneCoin:
        """Fit by EM; ``y`` (gold per row, -1 unknown) clamps its rows and anchors EM."""
        votes, _, yy = self._check_fit(L, y)
        self._em(votes, yy)
        return self

    def _m_step(self, counts: FloatArray, class_totals: FloatArray) -> None:
        k, s = self.n_classes_, self.smoothing
        hit = np.trace(counts, axis1=1, axis2=2)
        accuracy = (hit + s) / (counts.sum(axis=(1, 2)) + 2 * s)
        self.accuracies_ = np.maximum(accuracy, 1.0 / k + 1e-3)
        self.class_balance_ = np.full(k, 1.0 / k)
        self.confusions_ = one_coin(self.accuracies_, k)


class HoneypotWeightedVote(_ConfusionModel):
    """Weighted vote with each source's weight from its accuracy on gold rows (honeypots).

    Accuracy on gold rows is shrunk towards the pooled gold accuracy of all sources
    (``strength`` pseudo-answers), so a source with two gold answers is not trusted blindly;
    sources without any gold answer get the pooled accuracy. The vote weight is
    ``log(p (k-1) / (1-p))``, the one-coin optimum, and the class prior is uniform. No EM:
    the weights come from gold alone, which makes the result easy to explain to annotators.
    Abstains carry no evidence. ``fit`` needs gold: ``y`` with known rows that sources voted on.

    Parameters
    ----------
    n_classes:
        Number of classes; inferred when ``None``.
    strength:
        Pseudo-answers of the pooled accuracy added to each source's gold record.
    tie_break:
        Tie rule of ``predict``.

    Attributes
    ----------
    accuracies_ : ndarray (m,)
        Shrunk gold accuracy per source.
    confusions_, class_balance_ :
        The one-coin matrices of those accuracies, and the uniform class prior.
    """

    def __init__(
        self,
        n_classes: int | None = None,
        *,
        strength: float = 4.0,
        tie_break: TieBreak = "random",
    ) -> None:
        self.n_classes = n_classes
        self.strength = strength
        self.tie_break = tie_break

    def fit(self, L: object, y: object = None) -> HoneypotWeightedVote:
        """Weigh each source by its shrunk accuracy on the rows where ``y`` is known."""
        check_positive(strength=self.strength)
        votes, k, yy = self._check_fit(L, y)
        gold = np.full(votes.n_rows, -1, dtype=np.int64) if yy is None else yy
        on_gold = gold[votes.row] >= 0
        if not on_gold.any():
            raise ValidationError(
                "honeypot-weighted voting needs gold: pass y (a class per row, -1 unknown) "
                "with known rows that sources voted on (aggregate: gold={item: label}), "
                "or use 'dawid-skene'"
            )
        m = votes.n_sources
        correct = on_gold & (votes.label == gold[votes.row])
        n = np.bincount(votes.col[on_gold], minlength=m)
        hit = np.bincount(votes.col[correct], minlength=m)
        pooled = hit.sum() / n.sum()
        self.accuracies_ = (hit + self.strength * pooled) / (n + self.strength)
        self.confusions_ = one_coin(self.accuracies_, k)
        self.class_balance_ = np.full(k, 1.0 / k)
        self.n_iter_ = 0
        return self
