"""Honeypot maths: accuracy on gold over time, Wilson intervals, pausing, feedback payloads.

Honeypots are items with a known answer mixed into annotators' queues. This module only does
the arithmetic on the answers given to them; serving them (indistinguishable from other
items) is the queue's job.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np
import numpy.typing as npt

from labelloop.core.longtable import as_long_table, encode_gold
from labelloop.core.stats import wilson_interval as wilson_interval  # re-exported here
from labelloop.errors import ValidationError


@dataclass(frozen=True)
class HoneypotAccuracy:
    """One annotator's record on honeypots.

    ``history_*`` arrays hold, after each honeypot answer in time order, the time, the
    cumulative accuracy and its Wilson interval.
    """

    annotator: Hashable
    n: int
    correct: int
    accuracy: float
    low: float
    high: float
    history_time: npt.NDArray[Any]
    history_correct: npt.NDArray[np.bool_]
    history_accuracy: npt.NDArray[np.float64]
    history_low: npt.NDArray[np.float64]
    history_high: npt.NDArray[np.float64]


def honeypot_accuracy(
    table: object,
    gold: Mapping[Any, Any],
    *,
    times: Sequence[Any] | None = None,
    confidence: float = 0.95,
) -> list[HoneypotAccuracy]:
    """Per-annotator accuracy on gold items, overall and over time, with Wilson intervals.

    Parameters
    ----------
    table:
        Long annotation table ``(item, annotator, label)``.
    gold:
        ``{item: correct label}`` for the honeypot items.
    times:
        One sortable timestamp per table row (e.g. ``created_at``); default the row order.
    confidence:
        Coverage of the Wilson intervals.

    Returns
    -------
    list of HoneypotAccuracy
        One per annotator who answered at least one honeypot, in annotator order.
    """
    classes = sorted({*as_long_table(table).classes, *gold.values()}, key=repr)
    t = as_long_table(table, classes=_sorted_if_possible(classes))
    g = encode_gold(gold, t)
    order_key = np.arange(len(t)) if times is None else np.asarray(times)
    if len(order_key) != len(t):
        raise ValidationError(
            f"times needs one value per table row: {len(t)}, got {len(order_key)}"
        )
    out = []
    for a in range(t.n_annotators):
        rows = np.flatnonzero((t.annotator == a) & (g[t.item] >= 0))
        if not rows.size:
            continue
        rows = rows[np.argsort(order_key[rows], kind="stable")]
        correct = t.label[rows] == g[t.item[rows]]
        cum = np.cumsum(correct)
        n_seen = np.arange(1, rows.size + 1)
        low, high = wilson_interval(cum, n_seen, confidence=confidence)
        out.append(
            HoneypotAccuracy(
                t.annotators[a],
                int(rows.size),
                int(cum[-1]),
                float(cum[-1] / rows.size),
                float(low[-1]),
                float(high[-1]),
                order_key[rows],
                correct,
                cum / n_seen,
                low,
                high,
            )
        )
    return out


def _sorted_if_possible(values: list[Hashable]) -> list[Hashable]:
    try:
        # ids of any type: unorderable ones raise TypeError, handled below
        return sorted(cast(list[Any], values))
    except TypeError:
        return values


@dataclass(frozen=True)
class PauseDecision:
    """Whether to pause an annotator for review, and why (one sentence)."""

    annotator: Hashable
    pause: bool
    reason: str


def pause_decision(
    record: HoneypotAccuracy,
    *,
    threshold: float = 0.7,
    min_answers: int = 10,
    window: int | None = None,
    confidence: float = 0.95,
) -> PauseDecision:
    """Decide whether an annotator's honeypot record should pause them for review.

    An annotator is paused once they have at least ``min_answers`` honeypot answers and the
    upper end of the Wilson interval of their accuracy is below ``threshold``: we are
    confident (at ``confidence``) that they are worse than the bar, not merely unlucky.

    Parameters
    ----------
    record:
        From :func:`honeypot_accuracy`.
    threshold:
        The accuracy bar.
    min_answers:
        No decision before this many honeypot answers.
    window:
        Judge only the last ``window`` answers (recent behaviour); default all of them.
    confidence:
        Coverage of the Wilson interval.
    """
    if not 0 <= threshold <= 1:
        raise ValidationError(f"threshold must be in [0, 1], got {threshold}")
    hits = record.history_correct if window is None else record.history_correct[-window:]
    n, k = int(hits.size), int(hits.sum())
    if n < min_answers:
        return PauseDecision(
            record.annotator, False, f"only {n} honeypot answers, decision after {min_answers}"
        )
    low, high = wilson_interval(k, n, confidence=confidence)
    span = f"{k}/{n} honeypots correct ({k / n:.0%}, {confidence:.0%} CI {low:.0%}-{high:.0%})"
    if high < threshold:
        return PauseDecision(record.annotator, True, f"{span}: below the {threshold:.0%} bar")
    return PauseDecision(record.annotator, False, f"{span}: not below the {threshold:.0%} bar")


FeedbackMode = Literal["always", "wrong_only", "never"]


def honeypot_feedback(
    given: Hashable,
    correct: Hashable,
    *,
    descriptions: Mapping[Hashable, str] | None = None,
    mode: FeedbackMode = "always",
    show_answer: bool = True,
) -> dict[str, Any] | None:
    """The payload shown to an annotator right after they answered a honeypot.

    Parameters
    ----------
    given, correct:
        The annotator's label and the gold label.
    descriptions:
        ``{label: description}`` from the label schema; the correct class's one is included.
    mode:
        ``"always"``, ``"wrong_only"`` (feedback only on mistakes) or ``"never"``.
    show_answer:
        Include the correct answer (else only whether they were right).

    Returns
    -------
    dict or None
        ``{"correct": bool, "your_answer", "correct_answer"?, "description"?}``; ``None``
        when no feedback is due.
    """
    if mode not in ("always", "wrong_only", "never"):
        raise ValidationError(f"mode must be 'always', 'wrong_only' or 'never', got {mode!r}")
    right = given == correct
    if mode == "never" or (mode == "wrong_only" and right):
        return None
    payload: dict[str, Any] = {"correct": bool(right), "your_answer": given}
    if show_answer:
        payload["correct_answer"] = correct
        if descriptions and correct in descriptions:
            payload["description"] = descriptions[correct]
    return payload
