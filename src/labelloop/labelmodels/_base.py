"""What every label model shares: input checks, softmax, the tie rule, scoring, the base class."""

from __future__ import annotations

import hashlib
from typing import Literal, Self, get_args

import numpy as np

from labelloop.core.matrix import ABSTAIN
from labelloop.errors import NotFittedError, ValidationError
from labelloop.labelmodels._votes import FloatArray, IntArray, Votes, as_votes

TieBreak = Literal["random", "lowest", "abstain"]
Metric = Literal["accuracy", "f1", "f1_macro"]

TIE_TOL = 1e-5
"""Classes whose probabilities differ by less than this are tied (Snorkel's tolerance)."""


def infer_n_classes(n_classes: int | None, votes: Votes, y: object = None) -> int:
    """Return ``n_classes``, or the number of classes seen in the votes and ``y`` (at least 2)."""
    seen = int(votes.label.max()) + 1 if votes.label.size else 0
    if votes.n_classes_hint is not None:
        seen = max(seen, votes.n_classes_hint)
    if y is not None:
        yy = np.asarray(y)
        if yy.size and np.issubdtype(yy.dtype, np.integer):
            seen = max(seen, int(yy.max()) + 1)
    if n_classes is None:
        return max(seen, 2)
    if isinstance(n_classes, bool) or not isinstance(n_classes, int | np.integer):
        raise ValidationError(f"n_classes must be an integer, got {n_classes!r}")
    if n_classes < 2:
        raise ValidationError(f"n_classes must be at least 2, got {n_classes}")
    if seen > n_classes:
        raise ValidationError(f"labels go up to class {seen - 1} but n_classes={n_classes}")
    return int(n_classes)


def check_targets(y: object, n_items: int, k: int, *, partial: bool) -> IntArray:
    """Validate gold labels: length ``n_items``, classes ``0..k-1`` (and -1 if ``partial``)."""
    yy = np.asarray(y)
    if yy.ndim != 1 or yy.shape[0] != n_items:
        raise ValidationError(
            f"y must be 1-D with {n_items} entries (one per row of L), got shape {yy.shape}"
        )
    if yy.size and not np.issubdtype(yy.dtype, np.integer):
        raise ValidationError(f"y must hold integer class indices, got dtype {yy.dtype}")
    lo = ABSTAIN if partial else 0
    if yy.size and (yy.min() < lo or yy.max() >= k):
        raise ValidationError(
            f"y must hold classes 0..{k - 1}{' or -1 (unknown)' if partial else ''}, "
            f"got values from {yy.min()} to {yy.max()}"
        )
    return yy.astype(np.int64)


def _row_reduce(ufunc: np.ufunc, x: FloatArray) -> FloatArray:
    """``ufunc.reduce(x, axis=1)`` as ``k`` column passes: much faster for few classes."""
    out = x[:, 0].copy()
    for c in range(1, x.shape[1]):
        ufunc(out, x[:, c], out=out)
    return out[:, None]


def normalise_log(log_p: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Row-wise softmax of log-scores, and each row's log normaliser."""
    top = _row_reduce(np.maximum, log_p)
    p = np.exp(log_p - top)
    norm = _row_reduce(np.add, p)
    p /= norm
    return p, (np.log(norm) + top)[:, 0]


def softmax_rows(log_p: FloatArray) -> FloatArray:
    """Row-wise softmax of log-scores."""
    return normalise_log(log_p)[0]


def majority_proba(votes: Votes, k: int) -> FloatArray:
    """Vote shares per row; a row without votes gets uniform probabilities."""
    counts = votes.class_counts(k)
    total = counts.sum(axis=1, keepdims=True)
    out: FloatArray = np.where(total > 0, counts / np.maximum(total, 1.0), 1.0 / k)
    return out


def break_ties(probs: FloatArray, policy: TieBreak) -> IntArray:
    """Turn probabilities into class predictions with an explicit tie policy.

    Classes within ``TIE_TOL`` of a row's maximum are tied. ``"random"`` picks among them by
    the SHA-1 of the row index, as Snorkel's ``probs_to_preds(tie_break_policy="random")``
    does and WRENCH's published numbers assume: deterministic, and the same for the same row
    position. ``"lowest"`` takes the lowest tied class index; ``"abstain"`` returns -1.
    """
    if probs.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    tied = np.abs(probs - probs.max(axis=1, keepdims=True)) < TIE_TOL
    preds: IntArray = tied.argmax(axis=1).astype(np.int64)
    if policy == "lowest":
        return preds
    for i in np.flatnonzero(tied.sum(axis=1) > 1):
        if policy == "abstain":
            preds[i] = ABSTAIN
        else:
            classes = np.flatnonzero(tied[i])
            h = int(hashlib.sha1(str(int(i)).encode()).hexdigest(), 16)
            preds[i] = classes[h % len(classes)]
    return preds


def score_predictions(y: IntArray, pred: IntArray, metric: Metric, k: int) -> float:
    """Accuracy, binary F1 of class 1, or macro F1 over the ``k`` classes."""
    if metric == "accuracy":
        return float(np.mean(pred == y)) if y.size else 0.0
    classes = [1] if metric == "f1" else list(range(k))
    f1s = []
    for c in classes:
        tp = np.sum((pred == c) & (y == c))
        fp = np.sum((pred == c) & (y != c))
        fn = np.sum((pred != c) & (y == c))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return float(np.mean(f1s))


def clamp(proba: FloatArray, y: IntArray | None) -> None:
    """Set the posterior of rows with a known label (``y >= 0``) to that label, in place."""
    if y is None:
        return
    known = np.flatnonzero(y >= 0)
    if known.size:
        proba[known] = np.eye(proba.shape[1])[y[known]]


class BaseLabelModel:
    """The contract of every label model.

    Subclasses set their hyperparameters in ``__init__`` (including ``n_classes`` and
    ``tie_break``), implement ``fit`` through :meth:`_check_fit`, and ``_proba``.
    """

    n_classes: int | None = None
    tie_break: TieBreak = "random"
    n_classes_: int
    n_sources_: int

    def _check_fit(self, L: object, y: object) -> tuple[Votes, int, IntArray | None]:
        """Validate ``fit``'s input; return the votes, the class count and the gold labels."""
        if self.tie_break not in get_args(TieBreak):
            raise ValidationError(
                f"tie_break must be one of {get_args(TieBreak)}, got {self.tie_break!r}"
            )
        votes = as_votes(L)
        k = infer_n_classes(self.n_classes, votes, y)
        yy = None if y is None else check_targets(y, votes.n_rows, k, partial=True)
        self.n_classes_ = k
        self.n_sources_ = votes.n_sources
        return votes, k, yy

    def _check_predict(self, L: object) -> Votes:
        if not hasattr(self, "n_classes_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit(L) first")
        votes = as_votes(L)
        if votes.n_sources != self.n_sources_:
            raise ValidationError(
                f"L has {votes.n_sources} columns but the model was fitted on {self.n_sources_}"
            )
        if votes.label.size and votes.label.max() >= self.n_classes_:
            raise ValidationError(
                f"L holds class {votes.label.max()} but the model knows {self.n_classes_} classes"
            )
        return votes

    def fit(self, L: object, y: object = None) -> Self:  # pragma: no cover - abstract
        """Fit on label matrix ``L`` with optional gold ``y`` (-1 unknown); return ``self``."""
        raise NotImplementedError

    def _proba(self, votes: Votes) -> FloatArray:  # pragma: no cover - abstract
        raise NotImplementedError

    def predict_proba(self, L: object, y: object = None) -> FloatArray:
        """Posterior class probabilities per row, shape ``(n, k)``; rows sum to 1.

        Parameters
        ----------
        L:
            ``(n, m)`` votes, -1 = abstain: dense, SciPy sparse (``label + 1``) or a
            :class:`~labelloop.core.longtable.LongTable` with the fitted annotators.
        y:
            Optional known labels per row (-1 = unknown); those rows get probability 1 on
            their label (gold is returned as is).
        """
        votes = self._check_predict(L)
        proba = self._proba(votes)
        if y is not None:
            clamp(proba, check_targets(y, votes.n_rows, self.n_classes_, partial=True))
        return proba

    def predict(
        self,
        L: object,
        y: object = None,
        *,
        tie_break: TieBreak | None = None,
        threshold: float | None = None,
    ) -> IntArray:
        """Most probable class per row; ties follow ``tie_break`` (default: the model's).

        ``y`` clamps known rows as in :meth:`predict_proba`. For two classes, ``threshold``
        predicts class 1 where its probability is at least ``threshold`` instead (e.g. a
        threshold chosen on dev data to maximise F1).
        """
        probs = self.predict_proba(L, y)
        if threshold is None:
            return break_ties(probs, tie_break or self.tie_break)
        if probs.shape[1] != 2:
            raise ValidationError(f"threshold needs 2 classes, the model has {probs.shape[1]}")
        return (probs[:, 1] >= threshold).astype(np.int64)

    def score(self, L: object, y: object, *, metric: Metric = "accuracy") -> float:
        """Score predictions on ``L`` against gold ``y``: accuracy, binary F1 or macro F1."""
        pred = self.predict(L)
        yy = check_targets(y, pred.shape[0], self.n_classes_, partial=False)
        return score_predictions(yy, pred, metric, self.n_classes_)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.endswith("_"))
        return f"{type(self).__name__}({params})"


def check_positive(**values: float) -> None:
    """Raise a ValidationError naming the first hyperparameter below 0."""
    for name, value in values.items():
        if value < 0:
            raise ValidationError(f"{name} must be >= 0, got {value}")
