"""Shared plumbing of the aggregators: the estimator base class and majority vote.

See :mod:`labelloop.quality.aggregation` for the conventions (tie policy, gold anchoring).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from labelloop.errors import NotFittedError, ValidationError
from labelloop.quality.table import LongTable, as_long_table, encode_gold

Gold = Mapping[Any, Any] | None


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


def _argmax_with_ties(
    proba: npt.NDArray[np.float64], votes: npt.NDArray[np.float64]
) -> npt.NDArray[np.intp]:
    """Argmax per row; exact ties go to the class with more votes overall, then lower index."""
    rank = np.argsort(np.argsort(-votes, kind="stable"), kind="stable")
    tie_break = (votes.size - rank) * 1e-12
    top = proba.max(1, keepdims=True)
    best: npt.NDArray[np.intp] = np.argmax(
        np.where(np.isclose(proba, top, rtol=0, atol=1e-12), 1 + tie_break, 0), 1
    )
    return best


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
        share: npt.NDArray[np.float64] = counts / counts.sum(1, keepdims=True)
        with np.errstate(divide="ignore"):
            return np.log(share) if log else share
