"""Aggregate several annotators' labels into one label and a posterior per item.

Every aggregator reads a long table ``(item, annotator, label)``; a label matrix is read as
the same table (annotators are sources, as in :mod:`labelloop.weak`), so both views give the
same answer. Estimators follow scikit-learn: hyperparameters in ``__init__``, ``fit(table,
gold=...)`` returns ``self``, fitted state ends in ``_``; ``predict_proba(table)`` scores a
table with the fitted annotator parameters and raises ``NotFittedError`` before ``fit``.

Gold anchoring: EM starts from each annotator's confusions on gold items (where they
answered any), and items with a known answer (honeypots) are clamped to it in every E-step,
so they calibrate each annotator directly and their output is the gold label.

Tie policy: where classes are exactly tied in the posterior, the class with more votes in the
whole table wins, then the lower class index.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from labelloop.errors import NotFittedError, ValidationError
from labelloop.quality.table import LongTable, as_long_table, encode_gold

Method = Literal["dawid_skene", "one_coin", "honeypot", "majority"]
Gold = Mapping[Hashable, Hashable] | None


def _row_reduce(ufunc: np.ufunc, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``ufunc.reduce(x, axis=1)`` as ``k`` column passes: much faster for few classes."""
    out = x[:, 0].copy()
    for c in range(1, x.shape[1]):
        ufunc(out, x[:, c], out=out)
    return out[:, None]


def _softmax_rows(log_p: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Row-wise softmax."""
    top = _row_reduce(np.maximum, log_p)
    p = np.exp(log_p - top)
    norm = _row_reduce(np.add, p)
    p /= norm
    return p


def _per_item(t: LongTable, row_values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Sum row-level ``(n_rows, k)`` values into items, shape ``(n_items, k)``."""
    out = np.empty((t.n_items, row_values.shape[1]))
    for c in range(row_values.shape[1]):
        out[:, c] = np.bincount(t.item, weights=row_values[:, c], minlength=t.n_items)
    return out


def _argmax_with_ties(proba: npt.NDArray[np.float64], votes: npt.NDArray[np.float64]):
    """Argmax per row; exact ties go to the class with more votes overall, then lower index."""
    rank = np.argsort(np.argsort(-votes, kind="stable"), kind="stable")
    tie_break = (votes.size - rank) * 1e-12
    top = proba.max(1, keepdims=True)
    return np.argmax(np.where(np.isclose(proba, top, rtol=0, atol=1e-12), 1 + tie_break, 0), 1)


class _Aggregator:
    """Shared fit/predict plumbing; subclasses implement ``_fit`` and ``_log_likelihood``."""

    classes: Sequence[Hashable] | None = None

    def fit(self, table: object, *, gold: Gold = None) -> _Aggregator:
        """Fit on a long table; ``gold`` maps item ids to known labels (honeypots)."""
        t = as_long_table(table, classes=self.classes)
        if len(t) == 0:
            raise ValidationError("cannot aggregate an empty annotation table")
        g = encode_gold(gold, t)
        self._table = t
        self.items_ = list(t.items)
        self.annotators_ = list(t.annotators)
        self.classes_ = list(t.classes)
        self.class_votes_ = np.bincount(t.label, minlength=t.n_classes).astype(float)
        proba = self._fit(t, g)
        proba[g >= 0] = np.eye(t.n_classes)[g[g >= 0]]
        self.proba_ = proba
        self.labels_ = [self.classes_[c] for c in _argmax_with_ties(proba, self.class_votes_)]
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "proba_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet: call fit(table) first")

    def predict_proba(self, table: object) -> npt.NDArray[np.float64]:
        """Posterior ``(n_items, n_classes)`` for the items of ``table`` (in its item order).

        Uses the fitted annotator parameters; labels from annotators unseen in ``fit`` and
        labels outside ``classes_`` are ignored (an item with none gets the class prior).
        """
        self._check_fitted()
        t = as_long_table(table)
        ann_index = {a: i for i, a in enumerate(self.annotators_)}
        cls_index = {c: i for i, c in enumerate(self.classes_)}
        ann = np.array([ann_index.get(t.annotators[a], -1) for a in t.annotator], dtype=np.int64)
        lab = np.array([cls_index.get(t.classes[c], -1) for c in t.label], dtype=np.int64)
        keep = (ann >= 0) & (lab >= 0)
        mapped = LongTable(
            t.item[keep], ann[keep], lab[keep], t.items, self.annotators_, self.classes_
        )
        return _softmax_rows(self._log_posterior(mapped))

    def predict(self, table: object) -> list[Hashable]:
        """Most probable label per item of ``table`` (see :meth:`predict_proba`)."""
        proba = self.predict_proba(table)
        return [self.classes_[c] for c in _argmax_with_ties(proba, self.class_votes_)]

    def fit_predict(self, table: object, *, gold: Gold = None) -> dict[Hashable, Hashable]:
        """Fit and return ``{item: label}``."""
        self.fit(table, gold=gold)
        return dict(zip(self.items_, self.labels_, strict=True))

    def _fit(self, t: LongTable, gold: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        raise NotImplementedError

    def _log_posterior(self, t: LongTable) -> npt.NDArray[np.float64]:
        raise NotImplementedError


class MajorityVote(_Aggregator):
    """Majority vote; the posterior is each item's share of votes per class.

    Parameters
    ----------
    classes:
        Class order; default the sorted distinct labels.
    """

    def __init__(self, *, classes: Sequence[Hashable] | None = None) -> None:
        self.classes = classes

    def _fit(self, t: LongTable, gold: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        return self._log_posterior(t, log=False)

    def _log_posterior(self, t: LongTable, log: bool = True) -> npt.NDArray[np.float64]:
        counts = t.counts().astype(float)
        empty = counts.sum(1) == 0
        counts[empty] = self.class_votes_
        share = counts / counts.sum(1, keepdims=True)
        with np.errstate(divide="ignore"):
            return np.log(share) if log else share


def _clamp(proba: npt.NDArray[np.float64], gold: npt.NDArray[np.int64]) -> None:
    """Set the posterior of gold items (``gold >= 0``) to their gold label, in place."""
    anchored = np.flatnonzero(gold >= 0)
    if anchored.size:
        proba[anchored] = np.eye(proba.shape[1])[gold[anchored]]


def _design(t: LongTable):
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
        return proba / proba.sum(1, keepdims=True)

    @staticmethod
    def _gold_start(design_t, gold: npt.NDArray[np.int64], counts: npt.NDArray[np.float64]):
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

    def _unnormalised(self, design) -> npt.NDArray[np.float64]:
        n_a, k = self.confusions_.shape[:2]
        log_conf = np.log(self.confusions_).transpose(0, 2, 1).reshape(n_a * k, k)
        return design @ log_conf + np.log(self.priors_)

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
        for _ in range(self.n_iter):
            counts = (design_t @ proba).reshape(n_a, k, k).transpose(0, 2, 1)
            if self.n_iter_ == 0 and gold.size:
                counts = self._gold_start(design_t, gold, counts)
            prior = proba.sum(0) + self.smoothing
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
            accuracy = right / (counts.sum(2) + 2 * self.smoothing)
            eye = np.eye(k)[None]
            classwise = accuracy[:, :, None] * eye
            classwise += ((1 - accuracy) / max(k - 1, 1))[:, :, None] * (1 - eye)
            counts = counts + self.shrinkage * classwise
        counts = counts + self.smoothing
        return counts / counts.sum(2, keepdims=True)


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


@dataclass(frozen=True)
class Aggregation:
    """The result of :func:`aggregate`: one label and one posterior row per item."""

    items: list[Hashable]
    labels: list[Hashable]
    proba: npt.NDArray[np.float64]
    classes: list[Hashable]
    method: str
    model: Any

    def as_dict(self) -> dict[Hashable, Hashable]:
        """``{item: label}``."""
        return dict(zip(self.items, self.labels, strict=True))

    @property
    def confidence(self) -> npt.NDArray[np.float64]:
        """Posterior probability of the chosen label, per item."""
        return self.proba.max(1)


_METHODS = {
    "dawid_skene": DawidSkene,
    "one_coin": OneCoin,
    "honeypot": HoneypotWeightedVote,
    "majority": MajorityVote,
}


def aggregate(
    table: object,
    *,
    method: Method = "dawid_skene",
    gold: Gold = None,
    classes: Sequence[Hashable] | None = None,
    **params: Any,
) -> Aggregation:
    """Aggregate a long annotation table into one label per item.

    Parameters
    ----------
    table:
        Long table ``(item, annotator, label)`` or a label matrix (annotators as sources).
    method:
        ``"dawid_skene"`` (default), ``"one_coin"``, ``"honeypot"`` (needs ``gold``) or
        ``"majority"``.
    gold:
        ``{item: label}`` known answers; they anchor the model and are returned as is.
    classes:
        Class order; default the sorted distinct labels.
    **params:
        Hyperparameters of the chosen estimator (e.g. ``n_iter`` for Dawid-Skene).
    """
    if method not in _METHODS:
        raise ValidationError(f"method must be one of {sorted(_METHODS)}, got {method!r}")
    model = _METHODS[method](classes=classes, **params)
    model.fit(table, gold=gold)
    return Aggregation(model.items_, model.labels_, model.proba_, model.classes_, method, model)
