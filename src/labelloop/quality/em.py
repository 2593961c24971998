"""EM aggregators over per-annotator confusion matrices: Dawid-Skene, one-coin, honeypots.

The E-step and M-step are sparse products with the ``(item, annotator x label)`` count
matrix, so one EM iteration costs two passes over the answers.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from labelloop.errors import ValidationError
from labelloop.quality._base import _Aggregator, _row_reduce, _softmax_rows
from labelloop.quality.table import LongTable

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix


def _clamp(proba: npt.NDArray[np.float64], gold: npt.NDArray[np.int64]) -> None:
    """Set the posterior of gold items (``gold >= 0``) to their gold label, in place."""
    anchored = np.flatnonzero(gold >= 0)
    if anchored.size:
        proba[anchored] = np.eye(proba.shape[1])[gold[anchored]]


def _design(t: LongTable) -> csr_matrix:
    """Sparse counts ``(n_items, n_annotators * k)`` of (annotator, label) per item."""
    from scipy.sparse import csr_matrix

    k = t.n_classes
    return csr_matrix(
        (np.ones(len(t)), (t.item, t.annotator * k + t.label)),
        shape=(t.n_items, t.n_annotators * k),
    )


class _ConfusionEM(_Aggregator):
    """EM over per-annotator confusion matrices; subclasses choose how they are tied.

    The E-step and M-step are two sparse products with the ``(item, annotator x label)``
    count matrix, so one iteration costs two passes over the answers. EM stops when the
    mean log-likelihood per answer improves by less than ``tol``.
    """

    def __init__(
        self,
        *,
        n_iter: int = 100,
        tol: float = 1e-6,
        smoothing: float = 0.01,
        classes: Sequence[Hashable] | None = None,
    ) -> None:
        self.n_iter = n_iter
        self.tol = tol
        self.smoothing = smoothing
        self.classes = classes

    def _confusions(self, counts: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """``(n_annotators, k_true, k_given)`` from soft counts of the same shape."""
        raise NotImplementedError

    def _initial(self, t: LongTable, gold: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """Starting posterior: each item's vote shares."""
        proba = t.counts().astype(float)
        share: npt.NDArray[np.float64] = proba / proba.sum(1, keepdims=True)
        return share

    @staticmethod
    def _gold_start(
        design_t: csr_matrix, gold: npt.NDArray[np.int64], counts: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        """First M-step counts: gold answers only, for annotators who answered gold.

        Starting from what honeypots say about an annotator keeps EM from settling on a
        wrong but self-consistent majority (e.g. colluding annotators).
        """
        n_a, k = counts.shape[:2]
        on_gold = np.zeros((gold.size, k))
        anchored = np.flatnonzero(gold >= 0)
        on_gold[anchored, gold[anchored]] = 1
        from_gold = (design_t @ on_gold).reshape(n_a, k, k).transpose(0, 2, 1)
        answered = from_gold.sum((1, 2)) > 0
        return np.where(answered[:, None, None], from_gold, counts)

    def _log_posterior(self, t: LongTable) -> npt.NDArray[np.float64]:
        return self._unnormalised(_design(t))

    def _unnormalised(self, design: csr_matrix) -> npt.NDArray[np.float64]:
        n_a, k = self.confusions_.shape[:2]
        log_conf = np.log(self.confusions_).transpose(0, 2, 1).reshape(n_a * k, k)
        out: npt.NDArray[np.float64] = design @ log_conf + np.log(self.priors_)
        return out

    def _fit(self, t: LongTable, gold: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        design = _design(t)
        design_t = design.T.tocsr()
        k, n_a = t.n_classes, t.n_annotators
        if not (gold >= 0).any():
            gold = gold[:0]
        proba = self._initial(t, gold)
        _clamp(proba, gold)
        self.log_likelihood_ = -np.inf
        self.n_iter_ = 0
        ones = np.ones(t.n_items)
        for _ in range(self.n_iter):
            counts = (design_t @ proba).reshape(n_a, k, k).transpose(0, 2, 1)
            if self.n_iter_ == 0 and gold.size:
                counts = self._gold_start(design_t, gold, counts)
            prior = ones @ proba + self.smoothing  # column sums; much faster than sum(0)
            self.priors_ = prior / prior.sum()
            self.confusions_ = self._confusions(counts)
            log_p = self._unnormalised(design)
            top = _row_reduce(np.maximum, log_p)
            proba = np.exp(log_p - top)
            norm = _row_reduce(np.add, proba)
            proba /= norm
            _clamp(proba, gold)
            self.n_iter_ += 1
            ll = float((np.log(norm) + top).sum()) / len(t)
            if ll - self.log_likelihood_ < self.tol:
                self.log_likelihood_ = ll
                break
            self.log_likelihood_ = ll
        return proba


class DawidSkene(_ConfusionEM):
    """Dawid-Skene (1979): one full confusion matrix per annotator, fitted by EM.

    Each annotator's confusion matrix is shrunk towards their *class-wise* model (one
    accuracy per true class, errors spread evenly) by ``shrinkage`` pseudo-labels per true
    class: an annotator with many labels gets their own full matrix, one with few gets the
    simpler model, which is what sparse crowds need (on two classes both models coincide).

    Parameters
    ----------
    n_iter:
        Maximum EM iterations.
    tol:
        Stop when the mean log-likelihood per answer improves by less than ``tol``.
    smoothing:
        Dirichlet pseudo-count added to every confusion cell and class prior, which keeps
        annotators with few labels from getting zero probabilities.
    shrinkage:
        Pseudo-labels per true class pulling each confusion row towards the class-wise
        model; 0 gives plain Dawid-Skene.
    classes:
        Class order; default the sorted distinct labels.

    Attributes
    ----------
    confusions_:
        ``(n_annotators, n_classes, n_classes)``: ``P(label = j | true = i)`` per annotator.
    priors_:
        Class prior ``(n_classes,)``.
    proba_, labels_, items_, annotators_, classes_:
        Posterior and label per item, and the id lists they refer to.
    n_iter_, log_likelihood_:
        EM iterations run and the final mean log-likelihood per answer.

    Notes
    -----
    The defaults (``smoothing=0.1``, ``shrinkage=3``, ``tol=1e-6``) were chosen on the crowd
    sets of ``benchmarks/aggregation.py``, so that benchmark is not a held-out estimate.
    """

    def __init__(
        self,
        *,
        n_iter: int = 100,
        tol: float = 1e-6,
        smoothing: float = 0.1,
        shrinkage: float = 3.0,
        classes: Sequence[Hashable] | None = None,
    ) -> None:
        super().__init__(n_iter=n_iter, tol=tol, smoothing=smoothing, classes=classes)
        self.shrinkage = shrinkage

    def _confusions(self, counts: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        k = counts.shape[1]
        if self.shrinkage:
            right = np.diagonal(counts, axis1=1, axis2=2) + self.smoothing
            accuracy = right / (counts @ np.ones(k) + 2 * self.smoothing)
            eye = np.eye(k)[None]
            classwise = accuracy[:, :, None] * eye
            classwise += ((1 - accuracy) / max(k - 1, 1))[:, :, None] * (1 - eye)
            counts = counts + self.shrinkage * classwise
        counts = counts + self.smoothing
        return counts / (counts @ np.ones(k))[:, :, None]


def _one_coin(accuracy: npt.NDArray[np.float64], k: int) -> npt.NDArray[np.float64]:
    """Confusion matrices with ``accuracy`` on the diagonal and the rest spread evenly."""
    p = np.clip(accuracy, 1e-6, 1 - 1e-6)[:, None, None]
    eye = np.eye(k)[None]
    return p * eye + (1 - p) / max(k - 1, 1) * (1 - eye)


class OneCoin(_ConfusionEM):
    """One-coin model: each annotator is right with probability ``p``, else uniformly wrong.

    The posterior is a weighted vote with weight ``log(p (k-1) / (1-p))`` per annotator,
    fitted by EM. One parameter per annotator, so it suits annotators with few labels
    better than :class:`DawidSkene`, but it cannot model class-specific confusions. As in
    the classic one-coin model (Karger, Oh and Shah) the class prior is uniform and nobody is
    worse than chance: with a learned prior and adversarial weights, EM on biased crowds
    collapses onto one class.

    Parameters are those of :class:`DawidSkene`; ``smoothing`` is a pseudo-count of correct
    and of wrong answers per annotator.

    Attributes
    ----------
    accuracies_:
        ``(n_annotators,)`` estimated accuracy per annotator.
    """

    def _confusions(self, counts: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        k = counts.shape[1]
        hit = np.trace(counts, axis1=1, axis2=2)
        accuracy = (hit + self.smoothing) / (counts.sum((1, 2)) + 2 * self.smoothing)
        self.accuracies_ = np.maximum(accuracy, 1.0 / k + 1e-3)
        self.priors_ = np.full(k, 1.0 / k)
        return _one_coin(self.accuracies_, k)


class HoneypotWeightedVote(_ConfusionEM):
    """Weighted vote with each annotator's weight from their accuracy on honeypots.

    Accuracy on gold items is shrunk towards the pooled gold accuracy of all annotators
    (``strength`` pseudo-answers), so an annotator with two honeypots is not trusted
    blindly; annotators without any honeypot get the pooled accuracy. The vote weight is
    ``log(p (k-1) / (1-p))``, the one-coin optimum. No EM: the weights come from gold
    alone, which makes the result easy to explain to annotators.

    Parameters
    ----------
    strength:
        Pseudo-answers of the pooled accuracy added to each annotator's gold record.
    classes:
        Class order.

    Attributes
    ----------
    accuracies_:
        ``(n_annotators,)`` shrunk honeypot accuracy per annotator.
    """

    def __init__(self, *, strength: float = 4.0, classes: Sequence[Hashable] | None = None):
        self.strength = strength
        self.classes = classes

    def _fit(self, t: LongTable, gold: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        on_gold = gold[t.item] >= 0
        if not on_gold.any():
            raise ValidationError(
                "honeypot-weighted voting needs gold answers on items in the table: "
                "pass gold={item: label} or use method='dawid_skene'"
            )
        correct = (t.label == gold[t.item]) & on_gold
        n = np.bincount(t.annotator[on_gold], minlength=t.n_annotators)
        hit = np.bincount(t.annotator[correct], minlength=t.n_annotators)
        pooled = hit.sum() / n.sum()
        self.accuracies_ = (hit + self.strength * pooled) / (n + self.strength)
        self.confusions_ = _one_coin(self.accuracies_, t.n_classes)
        self.priors_ = np.full(t.n_classes, 1.0 / t.n_classes)
        self.n_iter_ = 0
        return _softmax_rows(self._log_posterior(t))
