"""The contract every registered label model keeps (see ``labelloop.labelmodels``)."""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
import pytest

from labelloop.core.longtable import as_long_table, encode_gold
from labelloop.errors import NotFittedError, ValidationError
from labelloop.labelmodels import ALIASES, LABEL_MODELS, make_label_model, resolve_name
from labelloop.quality import aggregate

NAMES = sorted(LABEL_MODELS)
K = 3


def crowd(n=240, m=6, k=K, seed=0):
    """Votes of ``m`` sources (accuracy 0.55-0.9, coverage 60%), row 0 all abstain, and gold
    on every 8th row."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n)
    L = np.full((n, m), -1)
    for j, acc in enumerate(np.linspace(0.55, 0.9, m)):
        asked = rng.random(n) < 0.6
        right = rng.random(n) < acc
        wrong = (truth + rng.integers(1, k, n)) % k
        L[asked, j] = np.where(right, truth, wrong)[asked]
    L[0] = -1
    y = np.where(np.arange(n) % 8 == 3, truth, -1)
    return L, y, truth


def fitted(name, L, y, k=K, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # LabelModel's guardrail may warn
        return make_label_model(name, k, **params).fit(L, y)


@pytest.mark.parametrize("name", NAMES)
def test_fit_returns_self_and_rows_are_distributions(name):
    L, y, _ = crowd()
    model = make_label_model(name, K)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert model.fit(L, y) is model
    P = model.predict_proba(L)
    assert P.shape == (L.shape[0], K)
    assert np.all(P >= 0) and np.all(np.isfinite(P))
    np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-12)
    pred = model.predict(L)
    assert isinstance(pred, np.ndarray) and pred.dtype.kind == "i" and pred.shape == (len(L),)
    assert set(pred.tolist()) <= set(range(K))


@pytest.mark.parametrize("name", NAMES)
def test_all_abstain_row_gets_a_valid_distribution(name):
    L, y, _ = crowd()
    model = fitted(name, L, y)
    P = model.predict_proba(np.full((2, L.shape[1]), -1))
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    assert np.all(P > 0)
    assert model.predict(np.full((1, L.shape[1]), -1), tie_break="abstain").shape == (1,)


def symmetric_votes(copies=10):
    """Two equally good sources, classes and sources exchangeable: rows [0, 1] and [1, 0] are
    exact ties for every model."""
    block = np.array([[0, 1], [1, 0], [0, 0], [1, 1], [0, 0], [1, 1]])
    L = np.tile(block, (copies, 1))
    y = np.full(len(L), -1)
    y[[2, 3]] = [0, 1]  # symmetric gold, for the models that need or use it
    return L, y


@pytest.mark.parametrize("name", NAMES)
def test_ties_follow_the_sha1_rule(name):
    L, y = symmetric_votes()
    model = fitted(name, L, y, k=2)
    P = model.predict_proba(L)
    tied = np.flatnonzero(np.abs(P[:, 0] - P[:, 1]) < 1e-5)
    mixed = np.flatnonzero(L[:, 0] != L[:, 1])
    np.testing.assert_array_equal(tied, mixed)
    sha1 = [int(hashlib.sha1(str(i).encode()).hexdigest(), 16) % 2 for i in tied]
    assert len(set(sha1)) == 2  # the rule really picks both classes
    np.testing.assert_array_equal(model.predict(L)[tied], sha1)
    assert np.all(model.predict(L, tie_break="lowest")[tied] == 0)
    assert np.all(model.predict(L, tie_break="abstain")[tied] == -1)


@pytest.mark.parametrize("name", NAMES)
def test_permuting_sources_leaves_the_posterior_unchanged(name):
    L, y, _ = crowd(seed=1)
    perm = np.random.default_rng(2).permutation(L.shape[1])
    a = fitted(name, L, y).predict_proba(L)
    b = fitted(name, L[:, perm], y).predict_proba(L[:, perm])
    np.testing.assert_allclose(a, b, atol=1e-8)


@pytest.mark.parametrize("name", NAMES)
def test_gold_rows_predict_their_gold(name):
    L, y, truth = crowd(seed=3)
    y = np.where(np.arange(len(y)) % 4 == 0, (truth + 1) % K, y)  # gold that votes contradict
    model = fitted(name, L, y)
    known = y >= 0
    np.testing.assert_array_equal(model.predict(L, y)[known], y[known])
    np.testing.assert_allclose(model.predict_proba(L, y)[known], np.eye(K)[y[known]])


@pytest.mark.parametrize("name", NAMES)
def test_not_fitted_raises(name):
    model = make_label_model(name, K)
    L, _, _ = crowd()
    with pytest.raises(NotFittedError):
        model.predict_proba(L)
    with pytest.raises(NotFittedError):
        model.predict(L)


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_raises_validation_error(name):
    L, y, _ = crowd()
    bad_fits = [
        (L[:, 0], y),  # 1-D
        (np.where(L == 0, -2, L), y),  # label below -1
        (L + 0.5, y),  # not integers
        (L, y[:-1]),  # one label short
        (L, np.where(y >= 0, K, -1)),  # gold outside the classes
    ]
    for bad_L, bad_y in bad_fits:
        with pytest.raises(ValidationError):
            make_label_model(name, K).fit(bad_L, bad_y)
    with pytest.raises(ValidationError):
        make_label_model(name, 2).fit(L, y)  # votes class 2 with 2 classes
    with pytest.raises(ValidationError):
        make_label_model(name, K, tie_break="coin").fit(L, y)
    model = fitted(name, L, y)
    with pytest.raises(ValidationError):
        model.predict_proba(L[:, :-1])
    with pytest.raises(ValidationError):
        model.predict_proba(L, y[:-1])
    with pytest.raises(ValidationError, match="bad parameter"):
        make_label_model(name, K, no_such_parameter=1)


@pytest.mark.parametrize("name", NAMES)
def test_sparse_and_long_forms_give_the_dense_answer(name):
    sparse = pytest.importorskip("scipy.sparse")
    L, y, _ = crowd(seed=4)
    dense = fitted(name, L, y).predict_proba(L)
    S = sparse.csr_matrix(L + 1)
    np.testing.assert_allclose(fitted(name, S, y).predict_proba(S), dense, atol=1e-10)
    t = as_long_table(L[1:])  # the long form has no row for the all-abstain item 0
    long = fitted(name, t, y[1:]).predict_proba(t)
    np.testing.assert_allclose(long, fitted(name, L[1:], y[1:]).predict_proba(L[1:]), atol=1e-10)


def test_honeypot_needs_gold():
    L, _, _ = crowd()
    with pytest.raises(ValidationError, match="needs gold"):
        make_label_model("honeypot", K).fit(L)


def test_registry_names_and_aliases():
    assert set(LABEL_MODELS) == {
        "auto", "majority", "dawid-skene", "one-coin", "honeypot", "label-model"
    }
    for alias, canonical in ALIASES.items():
        assert resolve_name(alias) == canonical
        assert type(make_label_model(alias)) is LABEL_MODELS[canonical]
    with pytest.raises(ValidationError, match="majority, dawid-skene, one-coin") as err:
        make_label_model("glad")
    assert "one_coin" in str(err.value)


@pytest.mark.parametrize("method", [*NAMES, *ALIASES])
def test_aggregate_equals_the_estimator_on_the_equivalent_matrix(method):
    L, y, _ = crowd(seed=5)
    L = L[1:]  # a long table has no all-abstain item
    names = np.array(["neg", "neu", "pos"])
    rows, cols = np.nonzero(L >= 0)
    table = [(f"item{i}", f"worker{j}", names[L[i, j]]) for i, j in zip(rows, cols, strict=True)]
    gold = {f"item{i}": names[c] for i, c in enumerate(y[1:]) if c >= 0}
    res = aggregate(table, method=method, gold=gold)

    t = as_long_table(table)
    matrix, yy = t.to_matrix(), encode_gold(gold, t)
    params = {"abstain": "missing"} if resolve_name(method) == "dawid-skene" else {}
    model = fitted(method, matrix.L, yy, k=t.n_classes, **params)
    np.testing.assert_allclose(res.proba, model.predict_proba(matrix.L, yy), atol=1e-10)
    assert res.labels == [t.classes[c] for c in model.predict(matrix.L, yy)]
    assert res.items == matrix.item_ids and res.classes == list(names)
