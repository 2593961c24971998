"""LFAnalysis against a hand count on a small fixture, and its PNG plot."""

from __future__ import annotations

import math

import numpy as np
import pytest

from labelloop.errors import ValidationError
from labelloop.weak import LFAnalysis, wilson_interval

L = np.array(
    [
        [0, 1, -1],
        [0, -1, -1],
        [-1, 1, 1],
        [1, 1, -1],
        [-1, -1, -1],
    ]
)
Y = np.array([0, 0, 1, 0, 1])


def test_statistics_match_hand_count():
    a = LFAnalysis(L, ["a", "b", "c"])
    assert a.lf_polarities() == [[0, 1], [1], [1]]
    np.testing.assert_allclose(a.lf_coverages(), [0.6, 0.6, 0.2])
    np.testing.assert_allclose(a.lf_overlaps(), [0.4, 0.6, 0.2])
    np.testing.assert_allclose(a.lf_conflicts(), [0.2, 0.2, 0.0])
    right, wrong = a.lf_correct_incorrect(Y)
    assert right.tolist() == [2, 1, 1]
    assert wrong.tolist() == [1, 2, 0]
    np.testing.assert_allclose(a.lf_empirical_accuracies(Y), [2 / 3, 1 / 3, 1.0])
    assert a.label_coverage() == pytest.approx(0.8)
    assert a.label_overlap() == pytest.approx(0.6)
    assert a.label_conflict() == pytest.approx(0.2)


def test_summary_table_with_gold_has_confidence_intervals():
    pytest.importorskip("pandas")
    table = LFAnalysis(L, ["a", "b", "c"]).summary(Y)
    assert list(table.index) == ["a", "b", "c"]
    assert table.loc["a", "correct"] == 2 and table.loc["b", "incorrect"] == 2
    for lf in "abc":
        row = table.loc[lf]
        assert row["ci_low"] <= row["emp_accuracy"] <= row["ci_high"]
    no_gold = LFAnalysis(L).summary()
    assert "emp_accuracy" not in no_gold.columns
    assert list(no_gold.index) == ["lf_0", "lf_1", "lf_2"]


def test_unknown_gold_entries_are_ignored():
    a = LFAnalysis(L)
    right, wrong = a.lf_correct_incorrect(np.array([0, -1, -1, -1, -1]))
    assert right.tolist() == [1, 0, 0] and wrong.tolist() == [0, 1, 0]
    assert math.isnan(a.lf_empirical_accuracies(np.array([-1, -1, -1, -1, -1]))[2])


def test_wilson_interval():
    lo, hi = wilson_interval(8, 10)
    assert 0.44 < lo < 0.5 and 0.94 < hi < 0.97  # textbook values 0.490, 0.943
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    narrow = wilson_interval(800, 1000)
    assert narrow[1] - narrow[0] < hi - lo


def test_names_must_match_columns():
    with pytest.raises(ValidationError):
        LFAnalysis(L, ["only_one"])


def test_plot_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    a = LFAnalysis(L, ["a", "b", "c"])
    for gold in (Y, None):
        out = a.plot(tmp_path / f"lfs_{gold is None}.png", Y=gold)
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
