"""Automated checks that route suspicious labels to review, each flag with its reason.

Every check returns a list of :class:`Flag`: which item (and which annotator's label), which
check raised it, a one-sentence reason a reviewer can act on, and a severity score in
``[0, 1]`` to sort by. Checks never change labels.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from labelloop.core.longtable import LongTable, as_long_table
from labelloop.errors import ValidationError
from labelloop.quality.confident import FilterBy, label_issue_mask


@dataclass(frozen=True)
class Flag:
    """One item (optionally one annotator's label on it) that a check sends to review."""

    item: Hashable
    annotator: Hashable | None
    check: str
    reason: str
    score: float


def _probs(pred_probs: npt.ArrayLike, n: int, k: int) -> npt.NDArray[np.float64]:
    p = np.asarray(pred_probs, dtype=float)
    if p.shape != (n, k):
        raise ValidationError(
            f"pred_probs must have shape (n_items, n_classes) = {(n, k)}, got {p.shape}"
        )
    return p


def find_label_issues(
    labels: Sequence[Hashable],
    pred_probs: npt.ArrayLike,
    *,
    classes: Sequence[Hashable],
    items: Sequence[Hashable] | None = None,
    filter_by: FilterBy = "prune_by_noise_rate",
) -> list[Flag]:
    """Likely label errors by confident learning on out-of-sample predicted probabilities.

    Parameters
    ----------
    labels:
        The label of each item (e.g. the aggregated or reviewed label).
    pred_probs:
        ``(n_items, n_classes)`` probabilities from a model that did not train on these items
        (cross-validation), columns in ``classes`` order.
    classes:
        The class values, in the column order of ``pred_probs``.
    items:
        Item ids (default ``0..n-1``).
    filter_by:
        See :func:`~labelloop.quality.confident.label_issue_mask`.

    Returns
    -------
    list of Flag
        Sorted with the least self-confident label first.
    """
    index = {c: i for i, c in enumerate(classes)}
    unknown = [v for v in labels if v not in index]
    if unknown:
        raise ValidationError(f"label {unknown[0]!r} is not one of classes {list(classes)!r}")
    y = np.array([index[v] for v in labels], dtype=np.int64)
    p = _probs(pred_probs, y.size, len(classes))
    ids = list(range(y.size)) if items is None else list(items)
    mask = label_issue_mask(y, p, filter_by=filter_by)
    flagged = np.flatnonzero(mask)
    self_conf = p[flagged, y[flagged]]
    out = []
    for i in flagged[np.argsort(self_conf, kind="stable")]:
        best = int(p[i].argmax())
        out.append(
            Flag(
                ids[i],
                None,
                "label_issue",
                f"labelled {classes[y[i]]!r} but a held-out model says {classes[best]!r} "
                f"(p={p[i, best]:.2f} vs {p[i, y[i]]:.2f})",
                float(1 - p[i, y[i]]),
            )
        )
    return out


def _leave_one_out_agreement(t: LongTable) -> npt.NDArray[np.float64]:
    """Per row: share of the *other* labels on the item that equal this row's label; NaN
    where fewer than two others labeled it (two people who disagree agree with each
    other equally rarely: a pair cannot tell which of them answers at random)."""
    counts = t.counts()
    same = counts[t.item, t.label] - 1
    others = counts.sum(1)[t.item] - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(others >= 2, same / np.maximum(others, 1), np.nan)


def find_spammers(
    table: object,
    *,
    seconds: Sequence[float] | None = None,
    min_labels: int = 20,
    max_label_share: float = 0.95,
    fast_ratio: float = 0.25,
    chance_margin: float = 0.05,
) -> list[Flag]:
    """Annotators whose answers look like spam; every label of theirs is flagged.

    Patterns
    --------
    - *always the same label*: one class in at least ``max_label_share`` of their labels
      while the other annotators use it far less;
    - *too fast*: median seconds per item below ``fast_ratio`` x the median annotator's;
    - *random*: they agree with the other annotators on an item no more often than a random
      labeller drawing from the crowd's label distribution would (plus ``chance_margin``),
      counted on items at least two others labeled (with two annotators, neither is judged
      by agreement: both would look alike).

    Annotators with fewer than ``min_labels`` labels are not judged.
    """
    t = as_long_table(table)
    secs = None if seconds is None else np.asarray(seconds, dtype=float)
    if secs is not None and secs.shape != (len(t),):
        raise ValidationError(f"seconds needs one value per table row: {len(t)}, got {secs.shape}")
    n_per = np.bincount(t.annotator, minlength=t.n_annotators)
    crowd = np.bincount(t.label, minlength=t.n_classes) / len(t)
    chance = float((crowd**2).sum())
    agree = _leave_one_out_agreement(t)
    medians = (
        np.array([np.median(secs[t.annotator == a]) for a in range(t.n_annotators)])
        if secs is not None
        else None
    )
    typical = float(np.median(medians)) if medians is not None else np.nan
    flags = []
    for a in np.flatnonzero(n_per >= min_labels):
        rows = t.annotator == a
        reasons, score = [], 0.0
        share = np.bincount(t.label[rows], minlength=t.n_classes) / n_per[a]
        top = int(share.argmax())
        others = (np.bincount(t.label[~rows], minlength=t.n_classes) / max((~rows).sum(), 1))[top]
        if share[top] >= max_label_share and others < max_label_share - 0.2:
            reasons.append(
                f"answers {t.classes[top]!r} {share[top]:.0%} of the time (others {others:.0%})"
            )
            score = max(score, float(share[top] - others))
        if medians is not None and medians[a] < fast_ratio * typical:
            reasons.append(f"median {medians[a]:.1f}s per item vs {typical:.1f}s typical")
            score = max(score, float(1 - medians[a] / typical))
        rate = float(np.nanmean(agree[rows])) if np.isfinite(agree[rows]).any() else np.nan
        if np.isfinite(rate) and rate <= chance + chance_margin:
            reasons.append(f"agrees with others {rate:.0%} of the time, chance is {chance:.0%}")
            score = max(score, float(chance + chance_margin - rate + 0.5))
        if reasons:
            reason = f"possible spammer ({n_per[a]} labels): " + "; ".join(reasons)
            flags += [
                Flag(t.items[i], t.annotators[a], "spammer", reason, min(score, 1.0))
                for i in t.item[rows]
            ]
    return flags


def _tvd(a: npt.NDArray[np.int64], b: npt.NDArray[np.int64], k: int) -> float:
    pa = np.bincount(a, minlength=k) / a.size
    pb = np.bincount(b, minlength=k) / b.size
    return float(np.abs(pa - pb).sum() / 2)


def find_label_drift(
    table: object,
    *,
    times: Sequence[Any] | None = None,
    window: int = 50,
    threshold: float = 0.3,
) -> list[Flag]:
    """Annotators whose recent label distribution moved away from their own earlier one.

    For each annotator with at least ``2 * window`` labels, the last ``window`` labels (by
    ``times``, default row order) are compared with all their earlier labels by total
    variation distance; at or above ``threshold`` the recent labels are flagged.
    """
    t = as_long_table(table)
    key = np.arange(len(t)) if times is None else np.asarray(times)
    if key.shape != (len(t),):
        raise ValidationError(f"times needs one value per table row: {len(t)}, got {key.shape}")
    flags = []
    for a in range(t.n_annotators):
        rows = np.flatnonzero(t.annotator == a)
        if rows.size < 2 * window:
            continue
        rows = rows[np.argsort(key[rows], kind="stable")]
        early, recent = rows[:-window], rows[-window:]
        tvd = _tvd(t.label[early], t.label[recent], t.n_classes)
        if tvd >= threshold:
            before = np.bincount(t.label[early], minlength=t.n_classes) / early.size
            after = np.bincount(t.label[recent], minlength=t.n_classes) / recent.size
            moved = int(np.abs(after - before).argmax())
            reason = (
                f"label mix drifted (TVD {tvd:.2f}): {t.classes[moved]!r} went from "
                f"{before[moved]:.0%} to {after[moved]:.0%} in the last {window} labels"
            )
            flags += [
                Flag(t.items[t.item[r]], t.annotators[a], "drift", reason, tvd) for r in recent
            ]
    return flags


def find_model_disagreements(
    table: object,
    pred_probs: npt.ArrayLike,
    *,
    items: Sequence[Hashable],
    classes: Sequence[Hashable],
    threshold: float = 0.9,
) -> list[Flag]:
    """Human labels that contradict a confident model.

    Flags every (item, annotator) whose label differs from the model's top class when the
    model gives that class at least ``threshold``. ``pred_probs`` rows follow ``items``,
    columns follow ``classes``; items the model did not score are skipped.
    """
    if not 0 < threshold <= 1:
        raise ValidationError(f"threshold must be in (0, 1], got {threshold}")
    t = as_long_table(table)
    p = _probs(pred_probs, len(items), len(classes))
    row_of = {it: r for r, it in enumerate(items)}
    col_of = {c: j for j, c in enumerate(classes)}
    # per table row: the model's row of its item (-1: not scored), its label's column
    # (-1: not a class of the model), the model's best class and that class's probability
    rows = np.array([row_of.get(it, -1) for it in t.items], dtype=np.int64)[t.item]
    cols = np.array([col_of.get(c, -1) for c in t.classes], dtype=np.int64)[t.label]
    scored = rows >= 0
    best = np.where(scored, p.argmax(1)[rows] if len(p) else 0, 0)
    p_best = np.where(scored, p[rows, best] if len(p) else 0.0, 0.0)
    hit = scored & (p_best >= threshold) & (cols != best)
    flags = []
    for k in np.flatnonzero(hit):
        r, b, human = int(rows[k]), int(best[k]), int(cols[k])
        lab = t.classes[t.label[k]]
        given = p[r, human] if human >= 0 else 0.0
        flags.append(
            Flag(
                t.items[t.item[k]],
                t.annotators[t.annotator[k]],
                "model_disagreement",
                f"labelled {lab!r}; the model says {classes[b]!r} with "
                f"p={p[r, b]:.2f} ({given:.2f} for the given label)",
                float(p[r, b] - given),
            )
        )
    return sorted(flags, key=lambda f: -f.score)
