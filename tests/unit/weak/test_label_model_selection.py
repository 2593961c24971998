"""The default label model ("auto"): chosen by cross-validation on gold, else a safe rule.

The real-data checks use the WRENCH and crowd files in ``../shared/data``: the product's
promise is "never worse than majority vote", so they compare with majority vote on the
test rows, with the valid rows given as gold.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from labelloop.errors import ValidationError
from labelloop.labelmodels import AutoLabelModel, MajorityVoter, score_predictions
from labelloop.labelmodels._votes import as_votes
from labelloop.labelmodels.selection import expected_f1_threshold, one_class_share
from labelloop.quality import aggregate


def wrench(shared_data: Path, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, slice]:
    """train+valid+test votes of one WRENCH set, valid labels as gold, and the test rows."""
    parts = []
    for split in ("test", "valid", "train"):  # test first: row index as in WRENCH
        rows = json.loads((shared_data / f"wrench-{name}" / f"{split}.json").read_text())
        keys = sorted(rows, key=int)
        parts.append(
            (
                np.array([rows[k]["weak_labels"] for k in keys], dtype=np.int64),
                np.array([rows[k]["label"] for k in keys], dtype=np.int64),
            )
        )
    L = np.concatenate([p[0] for p in parts])
    n_te, n_va = len(parts[0][1]), len(parts[1][1])
    gold = np.full(len(L), -1, dtype=np.int64)
    gold[n_te : n_te + n_va] = parts[1][1]
    return L, gold, parts[0][1], slice(0, n_te)


@pytest.mark.parametrize(("name", "metric"), [("youtube", "accuracy"), ("trec", "accuracy")])
def test_auto_is_at_least_majority_vote_on_wrench(shared_data: Path, name: str, metric: str):
    L, gold, y_test, test = wrench(shared_data, name)
    k = int(max(L.max(), y_test.max())) + 1
    mv = score_predictions(y_test, MajorityVoter(k).fit(L).predict(L)[test], metric, k)
    for y in (None, gold):
        auto = AutoLabelModel(k, metric=metric).fit(L, y)  # type: ignore[arg-type]
        ours = score_predictions(y_test, auto.predict(L)[test], metric, k)  # type: ignore[arg-type]
        assert ours >= mv, (name, y is not None, auto.rule_, ours, mv)
    assert "cross-validation" in auto.rule_ and auto.scores_["majority"] <= max(
        auto.scores_.values()
    )


def test_sms_f1_without_gold_stays_near_majority_vote(shared_data: Path):
    # 60% of SMS rows have no vote: argmax of a calibrated posterior says "ham" there (F1 9),
    # the expected-F1 threshold does not need labels to avoid that
    L, _, y_test, test = wrench(shared_data, "sms")
    mv = score_predictions(y_test, MajorityVoter(2).fit(L).predict(L)[test], "f1", 2)
    auto = AutoLabelModel(2, metric="f1").fit(L)
    assert auto.threshold_ is not None and auto.chosen_ == "label-model"
    assert score_predictions(y_test, auto.predict(L)[test], "f1", 2) >= mv - 0.01


def test_votes_choose_the_label_free_model(shared_data: Path):
    L, _, _, _ = wrench(shared_data, "youtube")
    assert one_class_share(as_votes(L)) > 0.9
    assert AutoLabelModel(2).fit(L).chosen_ == "label-model"
    crowd = np.array([[0, 1, 0, -1], [1, 1, 0, 1], [0, 0, -1, 0], [1, 0, 1, 1]] * 10)
    assert one_class_share(as_votes(crowd)) < 0.5
    assert AutoLabelModel(2).fit(crowd).chosen_ == "dawid-skene/missing"


def test_guard_falls_back_to_majority_vote_when_the_model_drifts(shared_data: Path):
    # Dawid-Skene that reads abstains as "not asked" collapses on one-class LFs (27.6% on
    # trec test vs 60.8 for majority vote): the guard sees it contradict majority vote
    L, _, y_test, test = wrench(shared_data, "trec")
    auto = AutoLabelModel(6, label_free_model="dawid-skene/missing").fit(L)
    assert auto.chosen_ == "majority" and "majority vote used instead" in auto.rule_
    mv = MajorityVoter(6).fit(L).predict(L)
    np.testing.assert_array_equal(auto.predict(L), mv)
    unguarded = AutoLabelModel(6, label_free_model="dawid-skene/missing", max_disagreement=1.0)
    worse = unguarded.fit(L).predict(L)
    assert score_predictions(y_test, worse[test], "accuracy", 6) < score_predictions(
        y_test, mv[test], "accuracy", 6
    )


def test_gold_overrules_a_bad_label_free_choice_only_with_evidence(shared_data: Path):
    # an unguarded Dawid-Skene that reads abstains as "not asked" collapses on trec's LFs;
    # 500 gold rows say so clearly, and cross-validation replaces it
    L, gold, y_test, test = wrench(shared_data, "trec")
    bad = {"label_free_model": "dawid-skene/missing", "max_disagreement": 1.0}
    alone = AutoLabelModel(6, **bad).fit(L)
    assert alone.chosen_ == "dawid-skene/missing"
    fixed = AutoLabelModel(6, **bad).fit(L, gold)
    assert fixed.chosen_ != "dawid-skene/missing" and "chose" in fixed.rule_
    assert fixed.scores_[fixed.chosen_] > fixed.scores_["dawid-skene/missing"] + 0.1

    def acc(model: AutoLabelModel) -> float:
        return score_predictions(y_test, model.predict(L)[test], "accuracy", 6)

    assert acc(fixed) > acc(alone) + 0.2
    # the same gold cannot overrule a sound choice on noise: youtube's LabelModel stays
    L, gold, _, _ = wrench(shared_data, "youtube")
    kept = AutoLabelModel(2).fit(L, gold)
    assert kept.chosen_ == "label-model" and "nothing clearly better" in kept.rule_


def test_expected_f1_threshold_maximises_expected_f1():
    rng = np.random.default_rng(1)
    p = rng.beta(0.5, 3, size=200)
    t = expected_f1_threshold(p)

    def expected_f1(cut: float) -> float:
        pos = p >= cut
        return 2 * p[pos].sum() / (pos.sum() + p.sum())

    assert expected_f1(t) >= max(expected_f1(c) for c in np.unique(p)) - 1e-12
    # no evidence anywhere: a low prior still predicts the positive class for F1
    assert expected_f1_threshold(np.full(50, 0.13)) <= 0.13


def test_bad_settings_are_validation_errors():
    L = np.array([[0, 1], [1, 1], [0, -1]])
    with pytest.raises(ValidationError, match="f1_macro"):
        AutoLabelModel(3, metric="f1").fit(L)
    with pytest.raises(ValidationError, match="candidates"):
        AutoLabelModel(2, candidates=("magic",)).fit(L)
    with pytest.raises(ValidationError, match="metric"):
        AutoLabelModel(2, metric="precision").fit(L)  # type: ignore[arg-type]


def test_aggregate_defaults_to_auto_and_returns_gold_as_is():
    # 3 careful workers among 12; most answers come from the 9 careless ones, so majority
    # vote is noticeably worse than a model that learns who is careful
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 400)
    rows = []
    for item in range(400):
        for worker in rng.choice(12, 5, replace=False):
            acc = 0.9 if worker < 3 else 0.4
            label = truth[item] if rng.random() < acc else rng.integers(0, 3)
            rows.append((f"i{item}", f"w{worker}", "abc"[label]))
    gold = {f"i{i}": "abc"[truth[i]] for i in range(60)}
    res = aggregate(rows, gold=gold)
    assert res.method == "auto" and "cross-validation" in res.model.rule_
    labels = res.as_dict()
    assert all(labels[i] == g for i, g in gold.items())
    rest = [f"i{i}" for i in range(60, 400)]

    def accuracy(found: dict) -> float:
        return float(np.mean([found[i] == "abc"[truth[int(i[1:])]] for i in rest]))

    assert accuracy(labels) > accuracy(aggregate(rows, method="majority").as_dict()) + 0.03
