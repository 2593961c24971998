"""When to stop labeling: budget, target accuracy on gold, stabilizing predictions."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from labelloop.errors import ValidationError

StopReason = Literal["budget", "target_accuracy", "stabilizing_predictions"]


@dataclass(frozen=True)
class StopDecision:
    """Whether to stop, and every criterion that says so (empty when labeling should go on)."""

    stop: bool
    reasons: tuple[StopReason, ...]
    message: str
    agreements: tuple[float, ...] = field(default=())

    def __bool__(self) -> bool:
        return self.stop


def kappa(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Cohen's kappa between two label vectors (1.0 when both are constant and equal)."""
    a, b = np.asarray(a).ravel(), np.asarray(b).ravel()
    if a.shape != b.shape or a.size == 0:
        raise ValidationError(
            f"predictions must be non-empty and of equal length, got {a.size} and {b.size}"
        )
    _, codes = np.unique(np.concatenate([a, b]), return_inverse=True)
    k = int(codes.max()) + 1
    ca, cb = codes[: a.size], codes[a.size :]
    observed = float(np.mean(ca == cb))
    expected = float(np.dot(np.bincount(ca, minlength=k), np.bincount(cb, minlength=k))) / a.size**2
    if expected == 1.0:
        return 1.0 if observed == 1.0 else 0.0
    return (observed - expected) / (1.0 - expected)


def should_stop(
    *,
    n_labeled: int | None = None,
    budget: int | None = None,
    accuracy: float | None = None,
    target_accuracy: float | None = None,
    predictions: Sequence[npt.ArrayLike] | None = None,
    agreement: float = 0.99,
    window: int = 3,
) -> StopDecision:
    """Decide whether active learning should stop, and say why.

    Each criterion is checked only when its inputs are given.

    Parameters
    ----------
    n_labeled, budget : int, optional
        Stop when ``n_labeled >= budget``.
    accuracy, target_accuracy : float, optional
        Stop when the model's accuracy on gold (honeypot) items reaches the target.
    predictions : sequence of arrays, optional
        Predictions of successive models (oldest first) on one fixed *stop set* of unlabeled
        items. Stop when Cohen's kappa between each of the last ``window`` consecutive pairs
        is at least ``agreement`` (stabilizing predictions, Bloodgood & Vijay-Shanker 2009).
    agreement : float, default=0.99
        Kappa threshold for stabilizing predictions.
    window : int, default=3
        How many consecutive model pairs must agree.

    Returns
    -------
    StopDecision
        ``stop``, the ``reasons`` that hold, a one-line ``message`` and the kappas of the
        last ``window`` pairs.
    """
    if (n_labeled is None) != (budget is None):
        raise ValidationError("give both n_labeled and budget, or neither")
    if (accuracy is None) != (target_accuracy is None):
        raise ValidationError("give both accuracy and target_accuracy, or neither")
    if window < 1:
        raise ValidationError(f"window must be >= 1, got {window}")
    reasons: list[StopReason] = []
    notes: list[str] = []
    if n_labeled is not None and budget is not None and n_labeled >= budget:
        reasons.append("budget")
        notes.append(f"{n_labeled} labels used of a budget of {budget}")
    if accuracy is not None and target_accuracy is not None and accuracy >= target_accuracy:
        reasons.append("target_accuracy")
        notes.append(f"accuracy on gold {accuracy:.4f} >= target {target_accuracy:.4f}")
    kappas: tuple[float, ...] = ()
    if predictions is not None and len(predictions) > window:
        recent = list(predictions)[-(window + 1) :]
        kappas = tuple(kappa(x, y) for x, y in itertools.pairwise(recent))
        if min(kappas) >= agreement:
            reasons.append("stabilizing_predictions")
            notes.append(
                f"the last {window} successive models agree with kappa >= {agreement} "
                f"(min {min(kappas):.4f})"
            )
    message = "; ".join(notes) if notes else "keep labeling: no stopping criterion is met"
    return StopDecision(bool(reasons), tuple(reasons), message, kappas)
