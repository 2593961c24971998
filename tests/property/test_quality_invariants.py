"""Invariants of agreement metrics and aggregators (Hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from labelloop.quality import (
    aggregate,
    cohen_kappa,
    fleiss_kappa,
    krippendorff_alpha,
)

labels = st.lists(st.integers(0, 4), min_size=2, max_size=40)


@st.composite
def crowd(draw, max_items=25, max_annotators=6, max_classes=4):
    """A long table where every item has at least two labels."""
    n_items = draw(st.integers(2, max_items))
    n_ann = draw(st.integers(2, max_annotators))
    k = draw(st.integers(2, max_classes))
    rows = []
    for i in range(n_items):
        who = draw(st.lists(st.integers(0, n_ann - 1), min_size=2, max_size=n_ann, unique=True))
        rows += [(i, f"w{a}", draw(st.integers(0, k - 1))) for a in who]
    return rows


@given(labels, st.sampled_from([None, "linear", "quadratic"]))
def test_kappa_is_one_for_identical_raters(a, weights):
    assert cohen_kappa(a, a, weights=weights) == 1.0


@given(crowd())
def test_fleiss_and_alpha_are_one_when_everyone_agrees(rows):
    agreed = [(i, a, i % 3) for i, a, _ in rows]
    assert fleiss_kappa(agreed) == 1.0
    assert krippendorff_alpha(agreed) == 1.0


@given(crowd(), st.permutations(["p", "q", "r", "s"]))
def test_nominal_metrics_ignore_class_names(rows, names):
    renamed = [(i, a, names[y]) for i, a, y in rows]
    for metric in (fleiss_kappa, krippendorff_alpha):
        x, y = metric(rows), metric(renamed)
        assert (np.isnan(x) and np.isnan(y)) or abs(x - y) < 1e-12
    first = [y for i, a, y in rows if a == "w0"]
    if len(first) >= 2:
        other = first[::-1]
        x = cohen_kappa(first, other)
        y = cohen_kappa([names[v] for v in first], [names[v] for v in other])
        assert (np.isnan(x) and np.isnan(y)) or abs(x - y) < 1e-12


@given(crowd(), st.sampled_from(["nominal", "ordinal", "interval"]))
def test_alpha_handles_missing_values(rows, level):
    """Single-valued items carry no pairable value; the matrix form with NaN agrees."""
    lonely = [(1000 + j, "w0", j % 2) for j in range(5)]
    base = krippendorff_alpha(rows, level=level)
    with_lonely = krippendorff_alpha(rows + lonely, level=level, values=None)
    items = sorted({i for i, _, _ in rows})
    annotators = sorted({a for _, a, _ in rows})
    wide = np.full((len(items), len(annotators)), np.nan)
    for i, a, y in rows:
        wide[items.index(i), annotators.index(a)] = y
    from_matrix = krippendorff_alpha(wide, level=level)
    for other in (from_matrix,) + ((with_lonely,) if level == "nominal" else ()):
        assert (np.isnan(base) and np.isnan(other)) or abs(base - other) < 1e-9


@settings(max_examples=40, deadline=None)
@given(crowd(), st.randoms(use_true_random=False))
def test_aggregate_ignores_annotator_order_and_sums_to_one(rows, rnd):
    names = sorted({a for _, a, _ in rows})
    shuffled = names[:]
    rnd.shuffle(shuffled)
    rename = dict(zip(names, shuffled, strict=True))
    for method in ("dawid_skene", "one_coin", "majority"):
        a = aggregate(rows, method=method)
        b = aggregate([(i, rename[w], y) for i, w, y in rows], method=method)
        np.testing.assert_allclose(a.proba, b.proba, atol=1e-9)
        np.testing.assert_allclose(a.proba.sum(1), 1.0)
