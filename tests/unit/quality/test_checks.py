"""Automated checks: confident learning vs cleanlab, spammers, drift, model disagreement."""

from __future__ import annotations

import numpy as np
import pytest

from labelloop.errors import ValidationError
from labelloop.quality import (
    find_label_drift,
    find_label_issues,
    find_model_disagreements,
    find_spammers,
)
from labelloop.quality.confident import label_issue_mask


def _noisy_problem(seed: int, k: int, sep: float = 1.0):
    datasets = pytest.importorskip("sklearn.datasets")
    linear = pytest.importorskip("sklearn.linear_model")
    selection = pytest.importorskip("sklearn.model_selection")
    X, y = datasets.make_classification(
        n_samples=400, n_features=8, n_informative=5, n_classes=k, class_sep=sep, random_state=seed
    )
    rng = np.random.default_rng(seed)
    noisy = y.copy()
    flip = rng.random(y.size) < 0.15
    noisy[flip] = (y[flip] + rng.integers(1, k, flip.sum())) % k
    probs = selection.cross_val_predict(
        linear.LogisticRegression(max_iter=500), X, noisy, cv=4, method="predict_proba"
    )
    return y, noisy, probs


@pytest.mark.parametrize(("seed", "k"), [(0, 2), (1, 3), (2, 4)])
@pytest.mark.parametrize("filter_by", ["prune_by_noise_rate", "confident_learning"])
def test_same_issues_as_cleanlab(seed, k, filter_by):
    cleanlab = pytest.importorskip("cleanlab.filter")
    _, noisy, probs = _noisy_problem(seed, k)
    expected = cleanlab.find_label_issues(noisy, probs, filter_by=filter_by)
    np.testing.assert_array_equal(label_issue_mask(noisy, probs, filter_by=filter_by), expected)


def test_label_issues_find_flipped_labels_with_reasons():
    truth, noisy, probs = _noisy_problem(3, 3, sep=2.5)
    names = ["a", "b", "c"]
    flags = find_label_issues([names[v] for v in noisy], probs, classes=names)
    flagged = np.array([f.item for f in flags])
    precision = (noisy[flagged] != truth[flagged]).mean()
    assert len(flags) > 10 and precision > 0.5  # 15% of labels were flipped
    assert all(f.check == "label_issue" and "held-out model says" in f.reason for f in flags)
    assert [f.score for f in flags] == sorted((f.score for f in flags), reverse=True)


def test_spammers_on_rte_include_constant_and_random_labellers(rte):
    table, _ = rte
    flags = find_spammers(table)
    by_annotator = {f.annotator: f.reason for f in flags}
    assert "A2QPX2MS844TYJ" in by_annotator  # answers 1 on all its 20 items
    assert "answers 1 100%" in by_annotator["A2QPX2MS844TYJ"]
    assert "A11GX90QFWDLMM" in by_annotator  # 760 labels at chance agreement
    good = table.groupby("annotator").size().index.difference(list(by_annotator))
    assert len(good) > len(by_annotator)


def test_two_annotators_are_not_judged_by_their_agreement():
    """Issue 13: with two annotators the chance-agreement check flagged the honest one."""
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, 60)
    table = [(i, "honest", int(y)) for i, y in enumerate(truth)]
    table += [(i, "random", int(rng.integers(0, 2))) for i in range(60)]
    assert find_spammers(table) == []
    # with a second honest annotator the random one stands out, and only it
    table += [(i, "honest2", int(y)) for i, y in enumerate(truth)]
    flags = find_spammers(table)
    assert {f.annotator for f in flags} == {"random"} and "chance" in flags[0].reason


def test_too_fast_annotator():
    table = [(i, a, i % 2) for i in range(40) for a in ("a", "b", "c")]
    seconds = [1.0 if a == "c" else 20.0 for _, a, _ in table]
    flags = find_spammers(table, seconds=seconds)
    assert {f.annotator for f in flags} == {"c"} and "median 1.0s" in flags[0].reason


def test_drift_flags_only_the_recent_window():
    table = [(i, "a", "x" if i < 100 else "y") for i in range(150)]
    table += [(i, "b", ["x", "y"][i % 2]) for i in range(150)]
    flags = find_label_drift(table, window=50)
    assert {f.annotator for f in flags} == {"a"}
    assert sorted(f.item for f in flags) == list(range(100, 150))
    assert "'x' went from 100% to 0%" in flags[0].reason


def test_model_disagreement():
    table = [(1, "a", "cat"), (1, "b", "dog"), (2, "a", "dog"), (3, "a", "cat")]
    probs = [[0.95, 0.05], [0.6, 0.4], [0.99, 0.01]]
    flags = find_model_disagreements(table, probs, items=[1, 2, 3], classes=["cat", "dog"])
    assert [(f.item, f.annotator) for f in flags] == [(1, "b")]
    with pytest.raises(ValidationError, match="shape"):
        find_model_disagreements(table, probs[:2], items=[1, 2, 3], classes=["cat", "dog"])
