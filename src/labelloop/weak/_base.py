"""Shared machinery of the label models: validation, sparse votes, tie breaking, scoring."""

from __future__ import annotations

import hashlib
from typing import Literal

import numpy as np
import numpy.typing as npt

from labelloop.core.matrix import ABSTAIN, check_label_matrix
from labelloop.errors import NotFittedError, ValidationError

TieBreak = Literal["random", "lowest", "abstain"]
Metric = Literal["accuracy", "f1", "f1_macro"]

_TIE_TOL = 1e-5


def to_dense(L: object) -> npt.NDArray[np.int64]:
    """Return ``L`` as a dense matrix; a SciPy sparse matrix stores ``label + 1`` (0 = abstain)."""
    if hasattr(L, "toarray") and hasattr(L, "nnz"):
        return check_label_matrix(np.asarray(L.toarray()) - 1)
    return check_label_matrix(L)


def unique_rows(A: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Indices of the first occurrence of each distinct row of ``A``, and each row's group.

    Rows are grouped by a 64-bit random linear hash (a plain sort, much faster than
    ``np.unique(axis=0)``); the grouping is then verified and, in the unlikely event of a
    collision, recomputed exactly.
    """
    if A.shape[0] == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng(12345)
    coef = rng.integers(1, 2**62, size=A.shape[1], dtype=np.uint64) | np.uint64(1)
    with np.errstate(over="ignore"):
        h = (A.astype(np.uint64) + np.uint64(1)) @ coef
    _, first, inverse = np.unique(h, return_index=True, return_inverse=True)
    if not np.array_equal(A[first[inverse]], A):
        _, first, inverse = np.unique(A, axis=0, return_index=True, return_inverse=True)
    return first.astype(np.int64), inverse.reshape(-1).astype(np.int64)


def compress_rows(
    L: npt.NDArray[np.int64], y: npt.NDArray[np.int64] | None = None
) -> tuple[
    npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.int64]
]:
    """Collapse identical rows of ``L`` (together with their label in ``y``).

    Returns the distinct rows, their labels (-1 = unknown), how many rows each stands for,
    and for each original row the index of its distinct row.
    """
    yy = np.full(L.shape[0], ABSTAIN, dtype=np.int64) if y is None else y
    first, inverse = unique_rows(np.concatenate([L, yy[:, None]], axis=1))
    counts = np.bincount(inverse, minlength=len(first)).astype(np.float64)
    return L[first], yy[first], counts, inverse


def infer_n_classes(n_classes: int | None, L: npt.NDArray[np.int64], y: object = None) -> int:
    """Return ``n_classes``, or the number of classes seen in ``L`` and ``y`` (at least 2)."""
    seen = int(L.max()) + 1 if L.size else 0
    if y is not None:
        yy = np.asarray(y)
        if yy.size:
            seen = max(seen, int(yy.max()) + 1)
    if n_classes is None:
        return max(seen, 2)
    if n_classes < 2:
        raise ValidationError(f"n_classes must be at least 2, got {n_classes}")
    if seen > n_classes:
        raise ValidationError(f"labels go up to class {seen - 1} but n_classes={n_classes}")
    return int(n_classes)


def check_targets(y: object, n_items: int, k: int, *, partial: bool) -> npt.NDArray[np.int64]:
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


def softmax_rows(S: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Row-wise softmax of log-scores."""
    E = np.exp(S - S.max(axis=1, keepdims=True))
    out: npt.NDArray[np.float64] = E / E.sum(axis=1, keepdims=True)
    return out


def break_ties(probs: npt.NDArray[np.float64], policy: TieBreak) -> npt.NDArray[np.int64]:
    """Turn probabilities into class predictions with an explicit tie policy.

    ``"random"`` picks among the tied classes by the SHA-1 of the row index, as
    Snorkel's ``probs_to_preds(tie_break_policy="random")`` does and WRENCH's published
    numbers assume: deterministic, and the same for the same row position.
    ``"lowest"`` takes the lowest tied class index; ``"abstain"`` returns -1 for a tie.
    """
    if probs.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    tied = np.abs(probs - probs.max(axis=1, keepdims=True)) < _TIE_TOL
    preds: npt.NDArray[np.int64] = tied.argmax(axis=1).astype(np.int64)
    multi = np.nonzero(tied.sum(axis=1) > 1)[0]
    for i in multi:
        classes = np.nonzero(tied[i])[0]
        if policy == "abstain":
            preds[i] = ABSTAIN
        elif policy == "random":
            h = int(hashlib.sha1(str(int(i)).encode()).hexdigest(), 16)
            preds[i] = classes[h % len(classes)]
    return preds


def score_predictions(
    y: npt.NDArray[np.int64], pred: npt.NDArray[np.int64], metric: Metric, k: int
) -> float:
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


class BaseLabelModel:
    """Common ``predict`` and ``score`` of every label model; subclasses give ``predict_proba``."""

    tie_break: TieBreak = "random"
    n_classes_: int

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_classes_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit(L) first")

    def _check_predict_input(self, L: object) -> npt.NDArray[np.int64]:
        self._check_fitted()
        M = to_dense(L)
        expected = getattr(self, "n_sources_", M.shape[1])
        if M.shape[1] != expected:
            raise ValidationError(
                f"L has {M.shape[1]} columns but the model was fitted on {expected}"
            )
        if M.size and M.max() >= self.n_classes_:
            raise ValidationError(
                f"L holds class {M.max()} but the model knows {self.n_classes_} classes"
            )
        return M

    def predict_proba(self, L: object) -> npt.NDArray[np.float64]:  # pragma: no cover - abstract
        raise NotImplementedError

    def predict(
        self, L: object, *, tie_break: TieBreak | None = None, threshold: float | None = None
    ) -> npt.NDArray[np.int64]:
        """Most probable class per row; ties follow ``tie_break`` (default: the model's).

        For two classes, ``threshold`` predicts class 1 where its probability is at least
        ``threshold`` instead (e.g. a threshold chosen on dev data to maximise F1).
        """
        probs = self.predict_proba(L)
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
