"""Invariants of the uncertainty scores and of selection (Hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from labelloop.active import entropy, least_confidence, margin, select
from labelloop.active.base import top_k


@st.composite
def probabilities(draw) -> np.ndarray:
    n = draw(st.integers(1, 30))
    k = draw(st.integers(2, 6))
    raw = draw(arrays(np.float64, (n, k), elements=st.floats(0.0, 1.0)))
    raw[:, 0] += 1e-9
    return raw / raw.sum(axis=1, keepdims=True)


@given(probabilities())
def test_scores_are_bounded_and_maximal_at_uniform(p) -> None:
    k = p.shape[1]
    assert np.all((least_confidence(p) >= -1e-12) & (least_confidence(p) <= 1 - 1 / k + 1e-12))
    assert np.all((margin(p) >= -1e-12) & (margin(p) <= 1 + 1e-12))
    assert np.all((entropy(p) >= -1e-12) & (entropy(p) <= np.log(k) + 1e-9))
    uniform = np.full((1, k), 1 / k)
    assert np.isclose(entropy(uniform)[0], np.log(k)) and np.isclose(margin(uniform)[0], 1)


@given(probabilities(), st.randoms(use_true_random=False))
def test_scores_ignore_the_order_of_classes(p, rnd) -> None:
    perm = list(range(p.shape[1]))
    rnd.shuffle(perm)
    for score in (least_confidence, margin, entropy):
        np.testing.assert_allclose(score(p), score(p[:, perm]), atol=1e-12)


@given(arrays(np.float64, st.integers(1, 50), elements=st.floats(-5, 5)), st.data())
def test_top_k_returns_k_of_the_largest(scores, data) -> None:
    k = data.draw(st.integers(1, scores.size))
    idx = top_k(scores, k, np.random.default_rng(0))
    assert np.unique(idx).size == k
    assert scores[idx].min() >= np.sort(scores)[-k]
    assert np.all(np.diff(scores[idx]) <= 0)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 40), st.integers(0, 39), st.sampled_from(["random", "margin", "coreset"]))
def test_selection_never_repeats_or_returns_labeled_rows(n_pool_extra, n_labeled, name) -> None:
    size = 40 + n_pool_extra
    rng = np.random.default_rng(n_pool_extra)
    X = rng.normal(size=(size, 3))
    proba = rng.dirichlet([1, 1], size=size)
    labeled = rng.choice(size, n_labeled, replace=False)
    n = min(5, size - n_labeled)
    idx = select(proba, X, n, strategy=name, labeled=labeled, random_state=0)
    assert np.unique(idx).size == n and not np.isin(idx, labeled).any()
