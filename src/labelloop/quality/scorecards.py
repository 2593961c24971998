"""Annotator scorecards: accuracy, agreement, speed, confusion and trend per annotator.

The same card is shown to an annotator on their own page and to admins for everyone.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from labelloop.core.longtable import as_long_table, encode_gold
from labelloop.errors import ValidationError
from labelloop.quality.aggregation import aggregate
from labelloop.quality.agreement import kappa_from_codes
from labelloop.quality.honeypots import wilson_interval


@dataclass(frozen=True)
class Scorecard:
    """One annotator's quality record.

    Attributes
    ----------
    annotator, n_labels:
        Who, and how many labels they gave.
    gold_n, gold_accuracy, gold_low, gold_high:
        Answers on gold items, accuracy there and its 95% Wilson interval (NaN without gold).
    consensus_accuracy:
        Agreement with the aggregated label of the items they labelled.
    peer_kappa:
        Cohen's kappa with each peer who shares at least ``min_overlap`` items, averaged with
        the number of shared items as weights (NaN if no such peer).
    median_seconds, slow_items, fast_items:
        Median seconds per item, and items where they took unusually long or short
        (beyond their own median -/+ 3 x max(1.4826 MAD, 10% of the median); empty
        without times).
    confusion:
        ``confusion[i][j]``: items whose reference label is ``classes[i]`` they labelled
        ``classes[j]``; the reference is gold where known, else the consensus.
    trend:
        Accuracy against the reference in consecutive blocks of ``trend_window`` labels,
        oldest first.
    """

    annotator: Hashable
    n_labels: int
    gold_n: int
    gold_accuracy: float
    gold_low: float
    gold_high: float
    consensus_accuracy: float
    peer_kappa: float
    median_seconds: float
    slow_items: list[Hashable] = field(default_factory=list)
    fast_items: list[Hashable] = field(default_factory=list)
    classes: list[Hashable] = field(default_factory=list)
    confusion: list[list[int]] = field(default_factory=list)
    trend: list[float] = field(default_factory=list)


def _peer_kappa(labels: npt.NDArray[np.int64], a: int, k: int, min_overlap: int) -> float:
    """Overlap-weighted mean Cohen's kappa of annotator column ``a`` with every other."""
    mine = labels[labels[:, a] >= 0]
    overlap = (mine >= 0).sum(0)
    total, weight = 0.0, 0
    for b in np.flatnonzero(overlap >= min_overlap):
        if b == a:
            continue
        both = mine[:, b] >= 0
        n = int(overlap[b])
        kappa = kappa_from_codes(mine[both, a], mine[both, b], k)
        if np.isfinite(kappa):
            total, weight = total + kappa * n, weight + n
    return total / weight if weight else float("nan")


def _outliers(values: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.bool_], ...]:
    """Unusually slow and fast values: beyond the median -/+ 3 robust spreads."""
    med = np.median(values)
    spread = max(1.4826 * np.median(np.abs(values - med)), 0.1 * med)
    return values > med + 3 * spread, values < med - 3 * spread


def scorecards(
    table: object,
    *,
    gold: Mapping[Any, Any] | None = None,
    seconds: Sequence[float] | None = None,
    times: Sequence[Any] | None = None,
    min_overlap: int = 5,
    trend_window: int = 20,
    classes: Sequence[Hashable] | None = None,
) -> list[Scorecard]:
    """A scorecard per annotator.

    Parameters
    ----------
    table:
        Long annotation table ``(item, annotator, label)``.
    gold:
        ``{item: label}`` known answers (honeypots); also anchor the consensus.
    seconds:
        Seconds spent on each table row (optional).
    times:
        A sortable timestamp per table row, for the trend (default row order).
    min_overlap:
        Shared items needed before a peer counts towards ``peer_kappa``.
    trend_window:
        Labels per block of the trend.
    classes:
        Class order of the confusion matrices (default: the sorted labels seen in the
        table and in ``gold``); give it to get every class, seen or not.
    """
    t = as_long_table(table, classes=classes)
    if gold and classes is None:
        extra = [v for v in gold.values() if v not in t.classes]
        if extra:
            t = as_long_table(t, classes=_sorted_union(t.classes, extra))
    g = encode_gold(gold, t)
    for name, col in (("seconds", seconds), ("times", times)):
        if col is not None and len(col) != len(t):
            raise ValidationError(f"{name} needs one value per table row: {len(t)}, got {len(col)}")
    consensus = np.argmax(aggregate(t, gold=gold).proba, 1)
    reference = np.where(g >= 0, g, consensus)
    wide = np.full((t.n_items, t.n_annotators), -1, dtype=np.int64)
    wide[t.item, t.annotator] = t.label
    secs = None if seconds is None else np.asarray(seconds, dtype=float)
    order_key = np.arange(len(t)) if times is None else np.asarray(times)
    cards = []
    for a in range(t.n_annotators):
        rows = np.flatnonzero(t.annotator == a)
        rows = rows[np.argsort(order_key[rows], kind="stable")]
        items, labels = t.item[rows], t.label[rows]
        on_gold = g[items] >= 0
        hits = int((labels[on_gold] == g[items][on_gold]).sum())
        n_gold = int(on_gold.sum())
        low, high = wilson_interval(hits, n_gold) if n_gold else (np.nan, np.nan)
        confusion = np.zeros((t.n_classes, t.n_classes), dtype=int)
        np.add.at(confusion, (reference[items], labels), 1)
        right = labels == reference[items]
        blocks = range(0, rows.size, trend_window)
        slow, fast, median = [], [], float("nan")
        if secs is not None:
            median = float(np.median(secs[rows]))
            hi, lo = _outliers(secs[rows])
            slow = [t.items[i] for i in items[hi]]
            fast = [t.items[i] for i in items[lo]]
        cards.append(
            Scorecard(
                annotator=t.annotators[a],
                n_labels=int(rows.size),
                gold_n=n_gold,
                gold_accuracy=hits / n_gold if n_gold else float("nan"),
                gold_low=float(low),
                gold_high=float(high),
                consensus_accuracy=float((labels == consensus[items]).mean()),
                peer_kappa=_peer_kappa(wide, a, t.n_classes, min_overlap),
                median_seconds=median,
                slow_items=slow,
                fast_items=fast,
                classes=list(t.classes),
                confusion=confusion.tolist(),
                trend=[float(right[s : s + trend_window].mean()) for s in blocks],
            )
        )
    return cards


def _sorted_union(a: list[Hashable], b: list[Hashable]) -> list[Hashable]:
    merged = list(dict.fromkeys([*a, *b]))
    try:
        # ids of any type: unorderable ones raise TypeError, handled below
        return sorted(cast(list[Any], merged))
    except TypeError:
        return merged
