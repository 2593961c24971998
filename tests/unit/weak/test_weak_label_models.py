"""Behaviour of MajorityVoter, DawidSkene and LabelModel on small synthetic matrices."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from labelloop.errors import NotFittedError, ValidationError
from labelloop.weak import DawidSkene, GuardrailWarning, LabelModel, MajorityVoter

MODELS = [MajorityVoter, DawidSkene, LabelModel]


def synthetic(n=600, k=2, seed=0, unipolar=True):
    """Votes of LFs with known accuracies; unipolar LFs vote one class only."""
    rng = np.random.default_rng(seed)
    y = rng.choice(k, size=n, p=[0.7] + [0.3 / (k - 1)] * (k - 1))
    cols = []
    specs = [(c, 0.4, 0.9) for c in range(k)] + [(c, 0.2, 0.75) for c in range(k)]
    for target, cov, acc in specs:
        col = np.full(n, -1)
        fires = rng.random(n) < cov
        if unipolar:
            # fires on its class with prob cov*acc-ish, on others rarely
            hit = (y == target) & fires
            miss = (y != target) & (rng.random(n) < cov * (1 - acc))
            col[hit | miss] = target
        else:
            right = rng.random(n) < acc
            col[fires & right] = y[fires & right]
            wrong = fires & ~right
            col[wrong] = (y[wrong] + rng.integers(1, k, wrong.sum())) % k
        cols.append(col)
    return np.stack(cols, axis=1), y


@pytest.mark.parametrize("cls", MODELS)
def test_not_fitted_raises(cls):
    with pytest.raises(NotFittedError):
        cls().predict_proba(np.zeros((2, 2), dtype=int))


@pytest.mark.parametrize("cls", MODELS)
def test_rows_sum_to_one_and_fit_returns_self(cls):
    L, _ = synthetic(k=3)
    model = cls()
    assert model.fit(L) is model
    P = model.predict_proba(L)
    assert P.shape == (L.shape[0], 3)
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    assert model.predict(L).shape == (L.shape[0],)


@pytest.mark.parametrize("cls", [DawidSkene, LabelModel])
def test_beats_chance_on_unipolar_lfs(cls):
    L, y = synthetic(unipolar=True, seed=1)
    model = cls().fit(L)
    assert model.score(L, y) > 0.8


@pytest.mark.parametrize("cls", MODELS)
def test_rejects_bad_input(cls):
    with pytest.raises(ValidationError):
        cls().fit(np.array([1, 0, -1]))
    with pytest.raises(ValidationError):
        cls().fit(np.array([[0, -2]]))
    model = cls().fit(np.array([[0, 1], [1, -1]]))
    with pytest.raises(ValidationError):
        model.predict_proba(np.array([[0, 1, 1]]))


def test_majority_tie_policies():
    L = np.array([[0, 1], [-1, -1], [1, 1]])
    mv = MajorityVoter(tie_break="lowest").fit(L)
    assert mv.predict(L).tolist() == [0, 0, 1]
    assert mv.predict(L, tie_break="abstain").tolist() == [-1, -1, 1]
    np.testing.assert_allclose(mv.predict_proba(L)[1], [0.5, 0.5])


def test_majority_random_tie_is_sha1_of_row_index():
    # sha1("0") ends in an odd hex digit, sha1("1") in an even one: classes 1 and 0 of 2.
    import hashlib

    L = np.array([[0, 1], [0, 1]])
    expected = [int(hashlib.sha1(str(i).encode()).hexdigest(), 16) % 2 for i in range(2)]
    assert MajorityVoter().fit(L).predict(L).tolist() == expected


def test_label_model_estimates_class_balance():
    L, y = synthetic(n=3000, seed=2, unipolar=False)
    lm = LabelModel().fit(L)
    # the majority class (70%) is recognised; the prior on precisions shrinks it a little
    assert 0.55 < lm.class_balance_[0] <= np.mean(y == 0) + 0.05
    fixed = LabelModel(class_balance=[0.5, 0.5]).fit(L)
    np.testing.assert_allclose(fixed.class_balance_, [0.5, 0.5])


def test_duplicate_column_gets_no_extra_weight():
    L, _ = synthetic(seed=3)
    dup = np.concatenate([L, L[:, :1], L[:, :1]], axis=1)
    a = LabelModel().fit(L).predict_proba(L)
    model = LabelModel().fit(dup)
    np.testing.assert_allclose(model.predict_proba(dup), a, atol=1e-9)
    assert model.duplicate_of_[-1] == 0
    assert np.all(model.weights_[-1] == 0)


def test_labels_anchor_and_known_accuracy_column():
    L, y = synthetic(seed=4)
    rng = np.random.default_rng(0)
    human = np.where(rng.random(len(y)) < 0.1, y, -1)  # partially observed, always right
    Lh = np.concatenate([L, human[:, None]], axis=1)
    lm = LabelModel().fit(Lh, known_accuracy={Lh.shape[1] - 1: 0.99})
    covered = human >= 0
    assert np.mean(lm.predict(Lh)[covered] == y[covered]) > 0.97
    assert lm.accuracy_[-1] == pytest.approx(0.99, abs=1e-6)
    y_dev = np.where(rng.random(len(y)) < 0.2, y, -1)
    anchored = LabelModel().fit(L, y_dev)
    assert anchored.score(L, y) >= LabelModel().fit(L).score(L, y) - 0.02


def test_guardrail_falls_back_to_majority_vote():
    # Two accurate LFs that always vote together, and an anti-correlated third one the
    # model over-trusts only if it is wrong; dev labels expose it.
    rng = np.random.default_rng(5)
    n = 400
    y = rng.integers(0, 2, n)
    good = np.where(rng.random(n) < 0.9, y, 1 - y)
    L = np.stack([good, good, good, 1 - y, 1 - y], axis=1)
    L[:, 0] = np.where(rng.random(n) < 0.95, L[:, 0], -1)
    y_dev = np.where(np.arange(n) < 100, y, -1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lm = LabelModel(guardrail_margin=0.0).fit(L, y_dev)
    if lm.fallback_:
        assert any(issubclass(w.category, GuardrailWarning) for w in caught)
        np.testing.assert_allclose(lm.predict_proba(L), MajorityVoter().fit(L).predict_proba(L))
    assert lm.guardrail_ is not None
    assert lm.guardrail_["n_labels"] == 100


def test_guardrail_forced_fallback_warns():
    L, y = synthetic(seed=6)
    y_dev = np.where(np.arange(len(y)) < 60, y, -1)
    with pytest.warns(GuardrailWarning):
        lm = LabelModel(guardrail_margin=-1.0).fit(L, y_dev)
    assert lm.fallback_


def test_threshold_predict_binary_only():
    L, _ = synthetic(k=3)
    lm = LabelModel().fit(L)
    with pytest.raises(ValidationError):
        lm.predict(L, threshold=0.3)
    L2, _ = synthetic(k=2)
    lm2 = LabelModel().fit(L2)
    assert lm2.predict(L2, threshold=0.0).tolist() == [1] * L2.shape[0]


def test_sparse_input_matches_dense():
    scipy_sparse = pytest.importorskip("scipy.sparse")
    L, _ = synthetic(seed=7)
    S = scipy_sparse.csr_matrix(L + 1)
    lm = LabelModel().fit(L)
    np.testing.assert_allclose(LabelModel().fit(S).predict_proba(S), lm.predict_proba(L))


def test_dawid_skene_models_abstains_on_unipolar_lfs():
    L, y = synthetic(seed=8, unipolar=True)
    ds = DawidSkene().fit(L)
    assert ds.confusions_.shape == (L.shape[1], 2, 3)
    np.testing.assert_allclose(ds.confusions_.sum(axis=2), 1.0)
    assert ds.score(L, y) > MajorityVoter(tie_break="lowest").fit(L).score(L, y) - 0.05


def test_known_accuracy_column_wins_over_an_identical_copy():
    L, _ = synthetic(seed=9)
    dup = np.concatenate([L, L[:, :1]], axis=1)
    lm = LabelModel().fit(dup, known_accuracy={dup.shape[1] - 1: 0.95})
    assert lm.duplicate_of_[0] == dup.shape[1] - 1
    assert np.all(lm.weights_[0] == 0)
    assert lm.accuracy_[-1] == pytest.approx(0.95, abs=1e-6)


WRENCH = Path(__file__).parents[3] / ".." / "shared" / "data"


def _wrench(name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    rows = json.loads((WRENCH / f"wrench-{name}" / f"{split}.json").read_text())
    keys = sorted(rows, key=int)
    return (
        np.array([rows[k]["weak_labels"] for k in keys]),
        np.array([rows[k]["label"] for k in keys]),
    )


@pytest.mark.skipif(not (WRENCH / "wrench-trec").exists(), reason="shared data not beside the repo")
@pytest.mark.parametrize("name", ["youtube", "trec"])
def test_label_model_beats_majority_vote_on_wrench(name):
    L_train, _ = _wrench(name, "train")
    L_test, y_test = _wrench(name, "test")
    lm = LabelModel().fit(L_train)
    mv = MajorityVoter().fit(L_train)
    assert lm.score(L_test, y_test) > mv.score(L_test, y_test)
    assert lm.n_iter_ < lm.n_iter  # converged
