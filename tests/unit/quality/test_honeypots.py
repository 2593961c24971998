"""Honeypot accuracy over time, Wilson intervals, pausing and feedback payloads."""

from __future__ import annotations

import numpy as np
import pytest

from labelloop.errors import ValidationError
from labelloop.quality import honeypot_accuracy, honeypot_feedback, pause_decision, wilson_interval


def test_wilson_interval_matches_statsmodels():
    proportion = pytest.importorskip("statsmodels.stats.proportion")
    for k, n in [(0, 10), (7, 10), (10, 10), (45, 120)]:
        low, high = wilson_interval(k, n, confidence=0.9)
        ref = proportion.proportion_confint(k, n, alpha=0.1, method="wilson")
        assert (float(low), float(high)) == pytest.approx(ref, abs=1e-12)


def test_honeypot_accuracy_over_time_on_rte(rte):
    table, gold = rte
    honeypots = {i: gold[i] for i in sorted(gold)[::10]}
    times = np.arange(len(table))[::-1]  # reverse time: history must follow times, not rows
    records = {r.annotator: r for r in honeypot_accuracy(table, honeypots, times=times)}
    on_gold = table[table["item"].isin(honeypots)]
    for annotator, rows in on_gold.groupby("annotator"):
        rec = records[annotator]
        correct = (rows["label"] == rows["item"].map(honeypots)).to_numpy()
        assert (rec.n, rec.correct) == (len(rows), int(correct.sum()))
        assert rec.low <= rec.accuracy <= rec.high
        np.testing.assert_array_equal(rec.history_correct, correct[::-1])
        assert rec.history_accuracy[-1] == pytest.approx(rec.accuracy)
    assert set(records) == set(on_gold["annotator"])


def _record(hits):
    table = [(i, "ann", "x" if h else "y") for i, h in enumerate(hits)]
    return honeypot_accuracy(table, {i: "x" for i in range(len(hits))})[0]


def test_pause_needs_confidence_not_bad_luck():
    assert not pause_decision(_record([0] * 5), min_answers=10).pause
    bad = pause_decision(_record([1, 0, 0] * 10), threshold=0.7)
    assert bad.pause and "10/30" in bad.reason
    unlucky = pause_decision(_record([1, 1, 0] * 4), threshold=0.7)  # 67% of 12: CI spans 0.7
    assert not unlucky.pause
    recent = pause_decision(_record([1] * 40 + [0] * 15), threshold=0.7, window=15)
    assert recent.pause and not pause_decision(_record([1] * 40 + [0] * 15)).pause


def test_feedback_payload_modes():
    desc = {"spam": "unsolicited advertising", "ham": "a normal message"}
    wrong = honeypot_feedback("ham", "spam", descriptions=desc)
    assert wrong == {
        "correct": False,
        "your_answer": "ham",
        "correct_answer": "spam",
        "description": "unsolicited advertising",
    }
    assert honeypot_feedback("spam", "spam", mode="wrong_only") is None
    assert honeypot_feedback("ham", "spam", mode="never") is None
    assert honeypot_feedback("ham", "spam", show_answer=False) == {
        "correct": False,
        "your_answer": "ham",
    }
    with pytest.raises(ValidationError, match="mode"):
        honeypot_feedback("a", "b", mode="sometimes")
