"""Invariants of the label models, checked on random label matrices (Hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from labelloop.weak import DawidSkene, LabelModel, MajorityVoter


@st.composite
def label_matrices(draw, min_cols=1):
    k = draw(st.integers(2, 4))
    n = draw(st.integers(1, 40))
    m = draw(st.integers(min_cols, 6))
    L = draw(arrays(np.int64, (n, m), elements=st.integers(-1, k - 1)))
    return L, k


SETTINGS = settings(max_examples=40, deadline=None)


@SETTINGS
@given(label_matrices())
def test_posterior_rows_sum_to_one(data):
    L, k = data
    for model in (MajorityVoter(k), DawidSkene(k, n_iter=20), LabelModel(k, n_iter=20)):
        P = model.fit(L).predict_proba(L)
        assert P.shape == (L.shape[0], k)
        assert np.all(P >= 0)
        np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-9)


@SETTINGS
@given(label_matrices(), st.randoms(use_true_random=False))
def test_permuting_columns_changes_nothing(data, rnd):
    L, k = data
    perm = list(range(L.shape[1]))
    rnd.shuffle(perm)
    for make in (lambda: LabelModel(k, n_iter=30), lambda: DawidSkene(k, n_iter=30)):
        a = make().fit(L).predict_proba(L)
        b = make().fit(L[:, perm]).predict_proba(L[:, perm])
        np.testing.assert_allclose(a, b, atol=1e-8)


@SETTINGS
@given(label_matrices(), st.integers(0, 5), st.integers(1, 3))
def test_duplicating_an_lf_does_not_add_weight(data, which, copies):
    L, k = data
    j = which % L.shape[1]
    dup = np.concatenate([L] + [L[:, [j]]] * copies, axis=1)
    a = LabelModel(k, n_iter=30).fit(L).predict_proba(L)
    b = LabelModel(k, n_iter=30).fit(dup).predict_proba(dup)
    np.testing.assert_allclose(a, b, atol=1e-8)
