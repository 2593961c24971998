"""Per-class thresholds that let drafts skip review at a guaranteed precision.

A draft of class ``c`` with score ``s`` is auto-accepted when ``s >= thresholds[c]``.
Thresholds come from human-checked drafts. For each class, candidate thresholds "accept
the top n" on a geometric grid of n (strictest first) are tested with an exact one-sided
binomial test: the Clopper-Pearson lower bound of their precision must reach the target.
Testing stops at the first candidate that fails (fixed-sequence testing, as in
Angelopoulos et al., "Learn then Test"), so no correction is needed within a class; the
classes split the error budget ``delta`` (Bonferroni). With probability at least
``1 - delta`` every chosen threshold has precision >= target at once.

The grid starts at the smallest n where drafts erring a quarter as often as the target
allows would pass (a choice that looks at no label, so the guarantee holds); a class with
fewer checked drafts gets an infinite threshold: everything of that class needs review.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from labelloop.core.records import Box
from labelloop.errors import ValidationError

GRID_RATIO = 1.25
"""Spacing of the candidate "top n" grid (each candidate accepts 25% more drafts)."""


def clopper_pearson_lower(k: int, n: int, alpha: float) -> float:
    """One-sided ``1 - alpha`` Clopper-Pearson lower bound of a binomial proportion.

    The smallest ``p`` with ``P(X >= k | n, p) >= alpha``: with ``k`` successes out of
    ``n``, the true proportion is at least this with confidence ``1 - alpha``.
    """
    if n <= 0 or k <= 0:
        return 0.0
    if k > n:
        raise ValidationError(f"successes must be <= trials, got k={k} > n={n}")
    i = np.arange(k, n + 1)
    log_comb = np.array(
        [math.lgamma(n + 1) - math.lgamma(j + 1) - math.lgamma(n - j + 1) for j in i]
    )

    def upper_tail(p: float) -> float:
        return float(np.exp(log_comb + i * math.log(p) + (n - i) * math.log1p(-p)).sum())

    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if upper_tail(mid) < alpha:
            lo = mid
        else:
            hi = mid
    return lo


@dataclass(frozen=True)
class Calibration:
    """Per-class auto-accept thresholds and what they were estimated from.

    Attributes
    ----------
    thresholds:
        ``(k,)`` score a draft of each class needs to skip review (``inf``: never).
    lower_bounds:
        ``(k,)`` Clopper-Pearson lower bound of the precision at the chosen threshold
        (``nan`` where no threshold passed; with one threshold for all classes, the
        bound of all accepted drafts together).
    n_checked:
        ``(k,)`` human-checked drafts predicted as each class.
    n_accepted:
        ``(k,)`` of those, how many the threshold auto-accepts.
    target_precision, delta:
        The target and the allowed probability that some class misses it.
    per_class:
        Whether each class has its own threshold (else one threshold for all).
    """

    thresholds: npt.NDArray[np.float64]
    lower_bounds: npt.NDArray[np.float64]
    n_checked: npt.NDArray[np.int_]
    n_accepted: npt.NDArray[np.int_]
    target_precision: float
    delta: float
    per_class: bool = True

    @property
    def coverage(self) -> float:
        """Share of the checked drafts that would be auto-accepted."""
        total = int(self.n_checked.sum())
        return float(self.n_accepted.sum() / total) if total else 0.0

    def accept(self, scores: npt.ArrayLike, predicted: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Boolean mask of the drafts that may skip review."""
        scores = np.asarray(scores, dtype=float)
        predicted = np.asarray(predicted, dtype=int)
        mask: npt.NDArray[np.bool_] = scores >= self.thresholds[predicted]
        return mask

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (``None`` for an infinite threshold or a missing bound)."""

        def clean(values: npt.NDArray[np.float64]) -> list[float | None]:
            return [None if not np.isfinite(v) else float(v) for v in values]

        return {
            "thresholds": clean(self.thresholds),
            "lower_bounds": clean(self.lower_bounds),
            "n_checked": self.n_checked.tolist(),
            "n_accepted": self.n_accepted.tolist(),
            "target_precision": self.target_precision,
            "delta": self.delta,
            "per_class": self.per_class,
            "coverage": self.coverage,
        }


def uncalibrated(n_classes: int, *, target_precision: float = 0.95) -> Calibration:
    """The state before any human check: every draft needs review."""
    return Calibration(
        thresholds=np.full(n_classes, np.inf),
        lower_bounds=np.full(n_classes, np.nan),
        n_checked=np.zeros(n_classes, dtype=int),
        n_accepted=np.zeros(n_classes, dtype=int),
        target_precision=target_precision,
        delta=0.05,
    )


def calibrate_thresholds(
    scores: npt.ArrayLike,
    predicted: npt.ArrayLike,
    truth: npt.ArrayLike,
    *,
    n_classes: int | None = None,
    target_precision: float = 0.95,
    delta: float = 0.05,
    per_class: bool = True,
) -> Calibration:
    """Choose per-class thresholds so that auto-accepted drafts reach ``target_precision``.

    Parameters
    ----------
    scores:
        ``(n,)`` confidence of each draft.
    predicted:
        ``(n,)`` class index each draft proposes.
    truth:
        ``(n,)`` the human's class for each draft; ``-1`` (ABSTAIN) where no human
        checked it (those rows are ignored).
    n_classes:
        Number of classes (default: one more than the largest index seen).
    target_precision:
        Precision the auto-accepted drafts of every class must reach.
    delta:
        Allowed probability that any class's precision falls below the target.
    per_class:
        ``True``: one threshold per class, each class's auto-accepted drafts reach the
        target. ``False``: one threshold for all classes, tested on all checked drafts
        at once; more drafts are auto-accepted with few checks, but the guarantee covers
        only the precision of all auto-accepted drafts together (a rare class may fall
        below the target).

    Returns
    -------
    Calibration
        Thresholds, bounds, counts and coverage.

    Raises
    ------
    ValidationError
        If the arrays differ in length or an option is out of range.
    """
    scores = np.asarray(scores, dtype=float)
    predicted = np.asarray(predicted, dtype=int)
    truth = np.asarray(truth, dtype=int)
    if not scores.shape == predicted.shape == truth.shape or scores.ndim != 1:
        raise ValidationError(
            "scores, predicted and truth must be 1-D and of one length, got shapes "
            f"{scores.shape}, {predicted.shape}, {truth.shape}"
        )
    if not 0.0 < target_precision < 1.0:
        raise ValidationError(f"target_precision must be in (0, 1), got {target_precision}")
    if not 0.0 < delta < 1.0:
        raise ValidationError(f"delta must be in (0, 1), got {delta}")
    seen = max(predicted.max(initial=-1), truth.max(initial=-1)) + 1
    k = n_classes if n_classes is not None else int(seen)
    checked = truth >= 0
    scores, predicted, truth = scores[checked], predicted[checked], truth[checked]
    k = max(k, 1)
    if per_class:
        return _compute_calibration(scores, predicted, truth, k, target_precision, delta)
    right = np.where(truth == predicted, 0, 1)
    pooled = _compute_calibration(
        scores, np.zeros_like(predicted), right, 1, target_precision, delta
    )
    threshold = pooled.thresholds[0]
    return Calibration(
        thresholds=np.full(k, threshold),
        lower_bounds=np.full(k, pooled.lower_bounds[0]),
        n_checked=np.bincount(predicted, minlength=k)[:k],
        n_accepted=np.bincount(predicted[scores >= threshold], minlength=k)[:k],
        target_precision=target_precision,
        delta=delta,
        per_class=False,
    )


def _compute_calibration(
    scores: npt.NDArray[np.float64],
    predicted: npt.NDArray[np.int_],
    truth: npt.NDArray[np.int_],
    k: int,
    target: float,
    delta: float,
) -> Calibration:
    alpha = delta / k
    n_start = _first_testable_n(target, alpha)
    grids: list[list[int]] = []
    for c in range(k):
        n_c = int((predicted == c).sum())
        grid: list[int] = []
        n = float(n_start)
        while n < n_c:
            grid.append(round(n))
            n *= GRID_RATIO
        if n_c >= n_start:
            grid.append(n_c)
        grids.append(sorted(set(grid)))

    result = uncalibrated(k, target_precision=target)
    thresholds, bounds = result.thresholds.copy(), result.lower_bounds.copy()
    n_checked = np.bincount(predicted, minlength=k)[:k]
    n_accepted = np.zeros(k, dtype=int)
    for c, grid in enumerate(grids):
        mine = predicted == c
        order = np.argsort(-scores[mine], kind="stable")
        s_sorted = scores[mine][order]
        correct = (truth[mine] == c)[order]
        for n in grid:  # strictest first; stop at the first failure
            t = s_sorted[n - 1]
            accepted = s_sorted >= t
            lb = clopper_pearson_lower(int(correct[accepted].sum()), int(accepted.sum()), alpha)
            if lb < target:
                break
            thresholds[c], bounds[c], n_accepted[c] = t, lb, int(accepted.sum())
    return Calibration(thresholds, bounds, n_checked, n_accepted, target, delta)


@functools.lru_cache(maxsize=64)
def _first_testable_n(target: float, alpha: float) -> int:
    """Smallest n where drafts erring a quarter as often as the target allows pass."""
    good = 1 - (1 - target) / 4
    n = 1
    while clopper_pearson_lower(math.floor(good * n), n, alpha) < target:
        n = max(n + 1, round(n * 1.05))
    return n


def calibrate_box_threshold(
    drafts: Sequence[Sequence[Box]],
    checked: Sequence[Sequence[Box]],
    *,
    target_precision: float = 0.95,
    delta: float = 0.05,
    iou_threshold: float = 0.5,
) -> Calibration:
    """One score threshold for detection drafts, from images a human has checked.

    A draft image counts as right when its boxes and the human's match one to one (same
    label, IoU at least ``iou_threshold``: :func:`labelloop.quality.box_agreement` with F1
    1). Its score is its least confident box; an image with no detection is never
    auto-accepted. The threshold is chosen as in :func:`calibrate_thresholds` with one
    class, so with probability ``1 - delta`` the auto-accepted draft images are right at
    least ``target_precision`` of the time.

    Parameters
    ----------
    drafts:
        The detector's boxes per checked image.
    checked:
        The human's boxes for the same images, in the same order.
    target_precision, delta:
        The target share of right images among the auto-accepted, and the error budget.
    iou_threshold:
        Overlap for a draft box to match a human box.

    Returns
    -------
    Calibration
        ``thresholds[0]`` is the score an image's least confident box needs (``inf``: not
        enough checked images yet, everything needs review).

    Raises
    ------
    ValidationError
        If the two sequences differ in length.
    """
    from labelloop.quality.boxes import box_agreement

    if len(drafts) != len(checked):
        raise ValidationError(
            f"drafts and checked must list the same images: {len(drafts)} vs {len(checked)}"
        )
    scores = np.full(len(drafts), -np.inf)
    wrong = np.zeros(len(drafts), dtype=int)
    for i, (mine, theirs) in enumerate(zip(drafts, checked, strict=True)):
        if mine:
            scores[i] = min(b.score if b.score is not None else 0.0 for b in mine)
        agreement = box_agreement(
            [[b.x, b.y, b.w, b.h] for b in mine],
            [[b.x, b.y, b.w, b.h] for b in theirs],
            labels_a=[b.label for b in mine],
            labels_b=[b.label for b in theirs],
            iou_threshold=iou_threshold,
        )
        wrong[i] = int(agreement.f1 < 1.0)
    return calibrate_thresholds(
        scores,
        np.zeros(len(drafts), dtype=int),
        wrong,
        n_classes=1,
        target_precision=target_precision,
        delta=delta,
    )
