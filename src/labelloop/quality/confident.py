"""Confident learning (Northcutt, Jiang and Chuang, JAIR 2021): find likely label errors.

Given the labels people gave and out-of-sample predicted probabilities (from cross-validation
or a model that never trained on these items), count the *confident joint* of given vs. likely
true labels, calibrate it to the label counts, and flag as many examples per off-diagonal cell
as it holds, those with the largest margin for the other class. This reimplements cleanlab's
``find_label_issues`` (``filter_by="prune_by_noise_rate"`` and ``"confident_learning"``) with
the same rounding and thresholds, so both flag the same examples.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from labelloop.errors import ValidationError

FilterBy = Literal["prune_by_noise_rate", "confident_learning"]
_EPS = 1e-6


def _round_keeping_sum(values: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Round to integers whose sum is the rounded sum: fix the entries rounded furthest."""
    ints = values.round()
    target = values.sum().round()
    while abs(ints.sum().round() - target) > _EPS:
        gap = target - ints.sum().round()
        step = 1 if gap > 0 else -1
        order = np.argsort(values - ints)
        order = order[::-1] if step == 1 else order
        ints[order[: min(int(abs(gap)), values.size)]] += step
    return ints.astype(np.int64)


def _round_rows(matrix: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    return np.stack([_round_keeping_sum(row) for row in matrix])


def confident_thresholds(
    labels: npt.NDArray[np.int64], pred_probs: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Per class, the mean predicted probability of that class over examples labelled with it.

    A class nobody labelled gets 2 (never confident).
    """
    k = pred_probs.shape[1]
    out = np.full(k, 2.0)
    for c in np.unique(labels):
        out[c] = pred_probs[labels == c, c].mean()
    floored: npt.NDArray[np.float64] = np.maximum(out, 2 * _EPS)
    return floored


def confident_joint(
    labels: npt.NDArray[np.int64], pred_probs: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The confident joint ``C[given, true]`` and the examples off its diagonal.

    An example counts towards the classes whose probability reaches their threshold; with
    several, the most probable class wins. Each diagonal cell is at least 1.
    """
    k = pred_probs.shape[1]
    above = pred_probs >= confident_thresholds(labels, pred_probs) - _EPS
    n_above = above.sum(1)
    guess = np.where(n_above > 1, pred_probs.argmax(1), above.argmax(1))
    confident = n_above > 0
    joint = np.zeros((k, k), dtype=np.int64)
    np.add.at(joint, (labels[confident], guess[confident]), 1)
    np.fill_diagonal(joint, np.maximum(joint.diagonal(), 1))
    off = np.flatnonzero(confident)[guess[confident] != labels[confident]]
    return joint, off


def _calibrate(
    joint: npt.NDArray[np.int64], label_counts: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    rows = joint / np.maximum(joint.sum(1, keepdims=True), 1e-100) * label_counts[:, None]
    rows = rows / max(rows.sum(), 1e-100) * label_counts.sum()
    return _round_rows(rows)


def _prune_counts(joint: npt.NDArray[np.int64], keep: int) -> npt.NDArray[np.int64]:
    """``P[true, given]``: how many examples of each given class to flag per true class."""
    counts = joint.T.astype(float)
    diagonal = counts.diagonal().copy()
    raised = np.maximum(diagonal, keep)
    per_column = np.maximum(np.count_nonzero(counts, axis=0) - 1.0, 1.0)
    counts = np.maximum(counts - (raised - diagonal) / per_column, 0)
    np.fill_diagonal(counts, raised)
    return _round_rows(counts)


def label_issue_mask(
    labels: npt.ArrayLike,
    pred_probs: npt.ArrayLike,
    *,
    filter_by: FilterBy = "prune_by_noise_rate",
    min_examples_per_class: int = 1,
) -> npt.NDArray[np.bool_]:
    """Boolean mask of examples whose given label is likely wrong.

    Parameters
    ----------
    labels:
        Given class indices ``0..k-1``, shape ``(n,)``.
    pred_probs:
        Out-of-sample predicted probabilities, shape ``(n, k)``, rows summing to 1.
    filter_by:
        ``"prune_by_noise_rate"`` (cleanlab's default) or ``"confident_learning"`` (every
        example off the confident joint's diagonal).
    min_examples_per_class:
        Never flag a class down below this many examples.
    """
    y = np.asarray(labels)
    p = np.asarray(pred_probs, dtype=float)
    if p.ndim != 2 or y.shape != (p.shape[0],):
        raise ValidationError(
            f"labels must be (n,) and pred_probs (n, k); got {y.shape} and {p.shape}"
        )
    if y.size and (y.min() < 0 or y.max() >= p.shape[1]):
        raise ValidationError(f"labels must be class indices 0..{p.shape[1] - 1}")
    if filter_by not in ("prune_by_noise_rate", "confident_learning"):
        raise ValidationError(
            f"filter_by must be 'prune_by_noise_rate' or 'confident_learning', got {filter_by!r}"
        )
    y = y.astype(np.int64)
    joint, off_diagonal = confident_joint(y, p)
    mask = np.zeros(y.size, dtype=bool)
    if filter_by == "confident_learning":
        mask[off_diagonal] = True
    else:
        label_counts = np.bincount(y, minlength=p.shape[1])
        prune = _prune_counts(_calibrate(joint, label_counts), min_examples_per_class)
        for given in range(p.shape[1]):
            members = np.flatnonzero(y == given)
            if members.size <= min_examples_per_class:
                continue
            for true in range(p.shape[1]):
                if true != given and prune[true, given] > 0:
                    margin = p[members, true] - p[members, given]
                    mask[members[np.argsort(-margin)[: prune[true, given]]]] = True
    nudged = p.copy()
    nudged[np.arange(y.size), y] += _EPS
    mask[nudged.argmax(1) == y] = False
    return mask
