"""Chance-corrected agreement between annotators: Cohen's and Fleiss' kappa, raw agreement.

Pure functions: data positional, options keyword-only. Multi-rater functions read a long
annotation table in any form :func:`~labelloop.core.longtable.as_long_table` accepts.

Degenerate case, stated once: when every label is the same class, chance agreement is 1 and
kappa is 0/0. scikit-learn returns NaN there; these functions return 1.0 when the raters
agree perfectly (no observed disagreement) and NaN otherwise, so identical raters always
score 1.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from labelloop.core.longtable import LongTable, as_long_table
from labelloop.errors import ValidationError

KappaWeights = Literal["linear", "quadratic"] | None


def _ratio(observed: float, expected: float) -> float:
    """``1 - observed/expected`` disagreement, with the degenerate case handled."""
    if expected == 0:
        return 1.0 if observed == 0 else float("nan")
    return 1.0 - observed / expected


def cohen_kappa(
    a: Sequence[Hashable] | npt.ArrayLike,
    b: Sequence[Hashable] | npt.ArrayLike,
    *,
    weights: KappaWeights = None,
    labels: Sequence[Hashable] | None = None,
) -> float:
    """Cohen's kappa between two raters who labelled the same items.

    Parameters
    ----------
    a, b:
        The two raters' labels, aligned item by item.
    weights:
        ``None`` (unweighted), ``"linear"`` or ``"quadratic"``: disagreement between classes
        ``i`` and ``j`` (positions in ``labels``) costs ``|i-j|`` or ``(i-j)**2``.
    labels:
        Class order for weighted kappa; default the sorted union of both raters' labels.

    Returns
    -------
    float
        Kappa in ``[-1, 1]``; equal to scikit-learn's ``cohen_kappa_score``.
    """
    x, y = list(np.asarray(a, dtype=object).ravel()), list(np.asarray(b, dtype=object).ravel())
    if len(x) != len(y):
        raise ValidationError(f"a and b must have the same length, got {len(x)} and {len(y)}")
    if not x:
        raise ValidationError("cohen_kappa needs at least one item rated by both raters")
    if weights not in (None, "linear", "quadratic"):
        raise ValidationError(f"weights must be None, 'linear' or 'quadratic', got {weights!r}")
    t = as_long_table(
        {"item": list(range(len(x))) * 2, "annotator": [0] * len(x) + [1] * len(y), "label": x + y},
        classes=labels,
    )
    return kappa_from_codes(t.label[: len(x)], t.label[len(x) :], t.n_classes, weights=weights)


def kappa_from_codes(
    a: npt.NDArray[np.int64],
    b: npt.NDArray[np.int64],
    k: int,
    *,
    weights: KappaWeights = None,
) -> float:
    """Cohen's kappa of two aligned arrays of class codes ``0..k-1`` (no validation)."""
    n = a.size
    confusion = np.bincount(a * k + b, minlength=k * k).reshape(k, k).astype(float)
    expected = np.outer(confusion.sum(1), confusion.sum(0)) / n
    idx = np.arange(k)
    if weights is None:
        w = (idx[:, None] != idx[None, :]).astype(float)
    else:
        w = np.abs(idx[:, None] - idx[None, :]).astype(float) ** (1 if weights == "linear" else 2)
    return _ratio(float((w * confusion).sum()), float((w * expected).sum()))


def fleiss_kappa(table: object, *, classes: Sequence[Hashable] | None = None) -> float:
    """Fleiss' kappa for any number of raters per item.

    Items with fewer than two labels are skipped. With the same number of labels on every
    item this is Fleiss (1971), equal to statsmodels' ``fleiss_kappa``; with varying numbers
    each item's observed agreement uses its own number of labels.

    Parameters
    ----------
    table:
        A long annotation table (see :func:`~labelloop.core.longtable.as_long_table`).
    classes:
        Class order (only matters to include classes nobody used).
    """
    counts = as_long_table(table, classes=classes).counts().astype(float)
    n_i = counts.sum(1)
    counts, n_i = counts[n_i >= 2], n_i[n_i >= 2]
    if not len(n_i):
        raise ValidationError("fleiss_kappa needs at least one item with two or more labels")
    p_item = ((counts * (counts - 1)).sum(1) / (n_i * (n_i - 1))).mean()
    p_class = counts.sum(0) / counts.sum()
    p_chance = float((p_class**2).sum())
    return _ratio(1.0 - p_item, 1.0 - p_chance)


def percent_agreement(table: object) -> float:
    """Share of agreeing pairs of labels on the same item, averaged over items.

    Items with fewer than two labels are skipped. This is the raw agreement Label Studio
    reports; it is not corrected for chance (see :func:`fleiss_kappa`).
    """
    counts = as_long_table(table).counts().astype(float)
    n_i = counts.sum(1)
    keep = n_i >= 2
    if not keep.any():
        raise ValidationError("percent_agreement needs at least one item with two or more labels")
    pairs = (counts[keep] * (counts[keep] - 1)).sum(1) / (n_i[keep] * (n_i[keep] - 1))
    return float(pairs.mean())


def per_class_agreement(table: object) -> dict[Hashable, float]:
    """Specific agreement per class: given one label ``c``, how often another label is ``c``.

    For class ``c`` this is ``sum_i n_ic (n_ic - 1) / sum_i n_ic (n_i - 1)`` over items with
    two or more labels (Fleiss' category-specific agreement). NaN for a class nobody used.
    """
    t = as_long_table(table)
    counts = t.counts().astype(float)
    n_i = counts.sum(1)
    counts, n_i = counts[n_i >= 2], n_i[n_i >= 2]
    num = (counts * (counts - 1)).sum(0)
    den = (counts * (n_i[:, None] - 1)).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)
    return {c: float(v) for c, v in zip(t.classes, ratio, strict=True)}


@dataclass(frozen=True)
class ConfidenceInterval:
    """A statistic with a bootstrap confidence interval."""

    estimate: float
    low: float
    high: float
    confidence: float
    n_resamples: int


def bootstrap_ci(
    statistic: Callable[[LongTable], float],
    table: object,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> ConfidenceInterval:
    """Percentile bootstrap interval of an agreement statistic, resampling items.

    Items (with all their labels) are drawn with replacement, so the interval reflects
    which items happened to be annotated; a drawn-twice item counts as two items.

    Parameters
    ----------
    statistic:
        A function of a long table, e.g. :func:`fleiss_kappa` or
        ``lambda t: krippendorff_alpha(t, level="ordinal")``.
    table:
        The annotation table.
    n_resamples, confidence, seed:
        Number of bootstrap tables, interval coverage and random seed.

    Returns
    -------
    ConfidenceInterval
        ``estimate`` is the statistic on the full table; resamples where it is NaN are dropped.
    """
    if n_resamples < 1:
        raise ValidationError(f"n_resamples must be >= 1, got {n_resamples}")
    if not 0 < confidence < 1:
        raise ValidationError(f"confidence must be in (0, 1), got {confidence}")
    t = as_long_table(table)
    rng = np.random.default_rng(seed)
    order = np.argsort(t.item, kind="stable")
    starts = np.searchsorted(t.item[order], np.arange(t.n_items + 1))
    values = []
    for _ in range(n_resamples):
        drawn = rng.integers(0, t.n_items, size=t.n_items)
        sizes = starts[drawn + 1] - starts[drawn]
        rows = order[np.concatenate([np.arange(starts[d], starts[d + 1]) for d in drawn])]
        new_item = np.repeat(np.arange(t.n_items), sizes)
        resampled = LongTable(
            new_item,
            t.annotator[rows],
            t.label[rows],
            list(range(t.n_items)),
            t.annotators,
            t.classes,
        )
        values.append(statistic(resampled))
    arr = np.asarray(values, dtype=float)
    arr = arr[~np.isnan(arr)]
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(arr, [tail, 100 - tail]) if arr.size else (np.nan, np.nan)
    return ConfidenceInterval(float(statistic(t)), float(low), float(high), confidence, n_resamples)
