"""Span labeling functions: builders, the fault-tolerant applier and per-LF analysis."""

from __future__ import annotations

import pytest

from labelloop.errors import ValidationError
from labelloop.weak.span_analysis import SpanLFAnalysis, span_prf
from labelloop.weak.spans import (
    apply_span_lfs,
    dictionary_span_lf,
    regex_span_lf,
    span_labeling_function,
)

TEXTS = ["Ada Lovelace met Charles Babbage in London.",
         "Paris and london are cities.",
         "Nothing here."]
LABELS = ["PER", "LOC"]


@span_labeling_function
def capitalised_pairs(x):
    return [(m.start(), m.end(), "PER") for m in __import__("re").finditer(
        r"[A-Z][a-z]+ [A-Z][a-z]+", x.text)]


@span_labeling_function(name="fragile")
def fragile(x):
    if x.text.startswith("Paris"):
        raise RuntimeError("boom")
    return []


@span_labeling_function(name="out_of_bounds")
def out_of_bounds(x):
    return [(0, 10_000, 0)] if x.text.startswith("Nothing") else []


def test_builders_find_whole_words_and_patterns() -> None:
    cities = dictionary_span_lf(["London", "Paris"], "LOC", name="cities")
    got = apply_span_lfs([cities, regex_span_lf(r"\bL\w+", 1, name="l_words")],
                         TEXTS, labels=LABELS)
    assert got.spans[0] == [[(36, 42, 1)], [(4, 12, 1), (36, 42, 1)]]
    assert got.spans[1][0] == [(0, 5, 1), (10, 16, 1)]  # case-insensitive by default
    assert got.spans[2] == [[], []] and not got.failures
    with pytest.raises(ValidationError, match="at least one non-empty term"):
        dictionary_span_lf([" "], 0)


def test_a_failing_lf_costs_one_cell_and_is_recorded() -> None:
    got = apply_span_lfs([capitalised_pairs, fragile, out_of_bounds], TEXTS, labels=LABELS)
    assert got.spans[0][0] == [(0, 12, 0), (17, 32, 0)]
    assert got.spans[1] == [[], [], []] and got.spans[2][2] == []
    kinds = [(f.item, f.lf, f.kind) for f in got.failures]
    assert kinds == [(1, "fragile", "error"), (2, "out_of_bounds", "invalid")]
    assert "RuntimeError: boom" in got.failures[0].error
    assert "0 <= start < end <= 13" in got.failures[1].error
    with pytest.raises(RuntimeError, match="boom"):
        apply_span_lfs([fragile], TEXTS, fault_tolerant=False)


def test_labels_outside_the_classes_are_invalid() -> None:
    bad = span_labeling_function(lambda x: [(0, 3, "ORG")], name="org")
    got = apply_span_lfs([bad], TEXTS[:1], labels=LABELS)
    assert got.failures[0].kind == "invalid" and "'ORG'" in got.failures[0].error
    got = apply_span_lfs([span_labeling_function(lambda x: [(0, 3, 5)], name="five")],
                         TEXTS[:1], k=2)
    assert "class index 0..1" in got.failures[0].error


def test_processes_executor_gives_the_same_spans() -> None:
    lfs = [capitalised_pairs, fragile, dictionary_span_lf(["london"], 1, name="ldn")]
    local = apply_span_lfs(lfs, TEXTS * 3, labels=LABELS)
    spread = apply_span_lfs(lfs, TEXTS * 3, labels=LABELS, executor="processes", n_jobs=2,
                            chunk_size=2)
    assert spread.spans == local.spans and spread.failures == local.failures


def test_analysis_counts_overlaps_conflicts_and_gold_precision() -> None:
    votes = [
        [[(0, 12, 0), (17, 32, 0)], [(0, 3, 1)], []],
        [[(0, 5, 1)], [(0, 5, 1)], [(10, 16, 1)]],
        [[], [], []],
    ]
    gold = [[(0, 12, 0), (17, 32, 0)], [(0, 5, 1), (10, 16, 1)], None]
    a = SpanLFAnalysis(votes, ["a", "b", "c"])
    assert a.lf_span_counts().tolist() == [3, 2, 1]
    assert a.lf_coverages().tolist() == pytest.approx([2 / 3, 2 / 3, 1 / 3])
    assert a.lf_overlaps().tolist() == pytest.approx([2 / 3, 1.0, 0.0])
    assert a.lf_conflicts().tolist() == pytest.approx([1 / 3, 0.5, 0.0])
    prf = a.lf_precision_recall(gold)
    assert prf[0].tolist() == pytest.approx([1.0, 0.75, 6 / 7])
    assert prf[1, :2].tolist() == pytest.approx([0.5, 0.25])
    table = a.summary(gold)
    assert list(table.columns) == ["spans", "coverage", "overlaps", "conflicts", "precision",
                                   "recall", "f1"]
    assert span_prf([[(0, 1, 0)]], [[(0, 1, 1)]]) == (0.0, 0.0, 0.0)
