"""Agreement between two annotators' bounding boxes on one image, by IoU matching.

Boxes are ``[x, y, w, h]`` in pixels of the original image (the project's canonical shape).
Two boxes match when their IoU reaches a threshold (and, by default, their labels agree);
the matching is the one-to-one assignment that maximises total IoU (Hungarian algorithm).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from labelloop._deps import require
from labelloop.errors import ValidationError


def _as_boxes(boxes: npt.ArrayLike, name: str) -> npt.NDArray[np.float64]:
    arr = np.asarray(boxes, dtype=float).reshape(-1, 4) if np.size(boxes) else np.zeros((0, 4))
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValidationError(f"{name} must be a list of [x, y, w, h] boxes, got shape {arr.shape}")
    if (arr[:, 2:] < 0).any():
        raise ValidationError(f"{name} has a box with negative width or height")
    return arr


def box_iou(a: npt.ArrayLike, b: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Pairwise IoU of ``[x, y, w, h]`` boxes, shape ``(len(a), len(b))``.

    Zero-area boxes have IoU 0 with everything.
    """
    A, B = _as_boxes(a, "a"), _as_boxes(b, "b")
    x1 = np.maximum(A[:, None, 0], B[None, :, 0])
    y1 = np.maximum(A[:, None, 1], B[None, :, 1])
    x2 = np.minimum(A[:, None, 0] + A[:, None, 2], B[None, :, 0] + B[None, :, 2])
    y2 = np.minimum(A[:, None, 1] + A[:, None, 3], B[None, :, 1] + B[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    union = (A[:, 2] * A[:, 3])[:, None] + (B[:, 2] * B[:, 3])[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


@dataclass(frozen=True)
class BoxAgreement:
    """How well two annotators' boxes on one image agree.

    Attributes
    ----------
    n_a, n_b:
        Boxes drawn by each annotator.
    matches:
        ``(index in a, index in b, iou)`` for every matched pair.
    f1:
        ``2 * matched / (n_a + n_b)`` (1.0 when both drew nothing).
    mean_iou:
        Mean IoU of the matched pairs (NaN without matches).
    label_agreement:
        Among pairs matched on geometry alone, the share with the same label (NaN without
        labels or matches).
    """

    n_a: int
    n_b: int
    matches: list[tuple[int, int, float]]
    f1: float
    mean_iou: float
    label_agreement: float


def _assign(score: npt.NDArray[np.float64], ok: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    if not ok.any():
        return []
    optimize = require("ml", "scipy.optimize", feature="box matching")
    rows, cols = optimize.linear_sum_assignment(np.where(ok, score, 0.0), maximize=True)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if ok[r, c]]


def box_agreement(
    boxes_a: npt.ArrayLike,
    boxes_b: npt.ArrayLike,
    *,
    labels_a: Sequence[Hashable] | None = None,
    labels_b: Sequence[Hashable] | None = None,
    iou_threshold: float = 0.5,
    match_labels: bool = True,
) -> BoxAgreement:
    """Match two annotators' boxes on one image one-to-one and score their agreement.

    Parameters
    ----------
    boxes_a, boxes_b:
        ``[x, y, w, h]`` boxes of each annotator.
    labels_a, labels_b:
        Class of each box (optional).
    iou_threshold:
        Minimum IoU for two boxes to match.
    match_labels:
        With labels, boxes of different classes never match.
    """
    if not 0 < iou_threshold <= 1:
        raise ValidationError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    A, B = _as_boxes(boxes_a, "boxes_a"), _as_boxes(boxes_b, "boxes_b")
    labelled = labels_a is not None and labels_b is not None
    if (
        labels_a is not None
        and labels_b is not None
        and (len(labels_a) != len(A) or len(labels_b) != len(B))
    ):
        raise ValidationError("labels_a/labels_b need one label per box")
    iou = box_iou(A, B)
    ok = iou >= iou_threshold
    same = np.zeros_like(ok)
    if labels_a is not None and labels_b is not None:
        same = np.array([[x == y for y in labels_b] for x in labels_a], dtype=np.bool_).reshape(
            ok.shape
        )
    pairs = _assign(iou, ok & same if labelled and match_labels else ok)
    geometric = _assign(iou, ok) if labelled else []
    total = len(A) + len(B)
    return BoxAgreement(
        n_a=len(A),
        n_b=len(B),
        matches=[(r, c, float(iou[r, c])) for r, c in pairs],
        f1=2 * len(pairs) / total if total else 1.0,
        mean_iou=float(np.mean([iou[r, c] for r, c in pairs])) if pairs else float("nan"),
        label_agreement=(
            float(np.mean([same[r, c] for r, c in geometric])) if geometric else float("nan")
        ),
    )
