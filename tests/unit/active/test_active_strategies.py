"""Unit tests of the individual strategies: what each one prefers, on data with a known answer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from labelloop.active import (
    ColdStart,
    CoreSet,
    HybridSampling,
    KMeansDiversity,
    entropy,
    least_confidence,
    margin,
    select,
)
from labelloop.active.base import top_k
from labelloop.active.hybrid import _balanced_quota
from labelloop.errors import ValidationError


def test_scores_on_known_rows() -> None:
    p = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.6, 0.3, 0.1], [1 / 3, 1 / 3, 1 / 3]])
    np.testing.assert_allclose(least_confidence(p), [0.0, 0.5, 0.4, 2 / 3])
    np.testing.assert_allclose(margin(p), [0.0, 1.0, 0.7, 1.0])
    np.testing.assert_allclose(entropy(p), [0.0, np.log(2), 0.8979457, np.log(3)], rtol=1e-6)


def test_top_k_breaks_ties_by_seed_and_keeps_the_best_first() -> None:
    scores = np.array([0.1, 0.9, 0.5, 0.5, 0.5, 0.2])
    picks = {tuple(top_k(scores, 3, np.random.default_rng(s))) for s in range(20)}
    assert all(p[0] == 1 and set(p[1:]) <= {2, 3, 4} for p in picks)
    assert len(picks) > 1


@pytest.mark.parametrize("name", ["least_confidence", "margin", "entropy"])
def test_uncertainty_picks_the_rows_nearest_the_boundary(name: str) -> None:
    x = np.linspace(-1, 1, 41)[:, None]
    proba = np.hstack([1 / (1 + np.exp(8 * x)), 1 / (1 + np.exp(-8 * x))])
    idx = select(proba, x, 3, strategy=name, random_state=0)
    assert idx[0] == 20
    assert set(idx) == {19, 20, 21}


def test_proba_that_does_not_sum_to_one_is_rejected() -> None:
    with pytest.raises(ValidationError, match="sum to 1"):
        select(np.full((4, 2), 0.7), np.zeros((4, 2)), 1, strategy="margin")
    with pytest.raises(ValidationError, match=r"\(4, k\)"):
        select(np.full((3, 2), 0.5), np.zeros((4, 2)), 1, strategy="margin")


def test_kmeans_diversity_covers_every_blob() -> None:
    rng = np.random.default_rng(0)
    centers = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], dtype=float)
    X = np.repeat(centers, 50, axis=0) + rng.normal(scale=0.3, size=(200, 2))
    idx = KMeansDiversity().select(None, X, 4, random_state=0)
    assert sorted(idx // 50) == [0, 1, 2, 3]


def test_kmeans_diversity_on_a_sample_still_assigns_the_whole_pool() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(500, 3))
    idx = KMeansDiversity(max_fit_samples=50).select(None, X, 5, labeled=range(100), random_state=0)
    assert np.unique(idx).size == 5 and idx.min() >= 100


def test_coreset_picks_the_farthest_point_from_the_labeled_set() -> None:
    X = np.array([[0.0], [1.0], [2.0], [10.0], [4.0]])
    idx = CoreSet().select(None, X, 2, labeled=[0], random_state=0)
    # 10 is farthest from 0; then 4 is farthest from {0, 10} (distance 4 vs 2 for the point at 2)
    np.testing.assert_array_equal(idx, [3, 4])


def test_hybrid_with_one_candidate_per_slot_is_margin_sampling() -> None:
    rng = np.random.default_rng(2)
    proba = rng.dirichlet([1, 1, 1], size=200)
    X = rng.normal(size=(200, 4))
    hybrid = HybridSampling(candidates=1).select(proba, X, 10, random_state=0)
    plain = select(proba, X, 10, strategy="margin", random_state=0)
    np.testing.assert_array_equal(np.sort(hybrid), np.sort(plain))


def test_hybrid_spreads_the_batch_over_uncertain_clusters() -> None:
    # two tight groups of equally uncertain near-duplicates, and a less uncertain one:
    # margin takes both from the first group, hybrid covers both uncertain groups
    X = np.vstack([np.full((10, 2), 0.0), np.full((10, 2), 5.0), np.full((10, 2), 9.0)])
    X += np.random.default_rng(3).normal(scale=0.01, size=X.shape)
    proba = np.vstack(
        [
            np.tile([0.5, 0.5], (10, 1)),
            np.tile([0.52, 0.48], (10, 1)),
            np.tile([0.95, 0.05], (10, 1)),
        ]
    )
    idx = HybridSampling(candidates=10).select(proba, X, 2, random_state=0)
    assert sorted(idx // 10) == [0, 1]
    assert set(select(proba, X, 2, strategy="margin", random_state=0) // 10) == {0}


def test_hybrid_pick_uncertain_takes_the_most_uncertain_member_of_each_cluster() -> None:
    X = np.vstack([np.zeros((5, 2)), np.full((5, 2), 8.0)])
    X += np.random.default_rng(5).normal(scale=0.1, size=X.shape)
    p1 = np.array([0.9, 0.8, 0.7, 0.55, 0.6, 0.95, 0.85, 0.51, 0.75, 0.65])
    proba = np.column_stack([p1, 1 - p1])
    idx = HybridSampling(candidates=5, pick="uncertain").select(proba, X, 2, random_state=0)
    assert sorted(idx) == [3, 7]


@pytest.mark.parametrize(
    "kwargs", [{"candidates": 0}, {"uncertainty": "variance"}, {"pick": "first"}]
)
def test_hybrid_rejects_bad_hyperparameters(kwargs) -> None:
    with pytest.raises(ValidationError):
        HybridSampling(**kwargs).select(None, np.zeros((5, 2)), 1)


def test_cold_start_balances_the_predicted_classes() -> None:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(300, 5))
    # a skewed prior: 270 items predicted class 0, 20 class 1, 10 class 2
    prior = np.zeros((300, 3))
    prior[:270, 0] = prior[270:290, 1] = prior[290:, 2] = 0.9
    prior[prior == 0] = 0.05
    idx = ColdStart().select(prior, X, 9, random_state=0)
    assert np.bincount(np.argmax(prior[idx], axis=1), minlength=3).tolist() == [3, 3, 3]


def test_balanced_quota_respects_small_groups() -> None:
    assert _balanced_quota(np.array([100, 1, 100]), 9).tolist() == [4, 1, 4]
    assert _balanced_quota(np.array([2, 2]), 4).tolist() == [2, 2]


def test_unknown_strategy_names_the_choices() -> None:
    with pytest.raises(ValidationError, match="hybrid"):
        select(None, np.zeros((3, 2)), 1, strategy="badge")
    with pytest.raises(ValidationError, match="bad parameters"):
        select(None, np.zeros((3, 2)), 1, strategy="margin", candidates=3)


def test_take_rows_of_a_memory_map_reads_the_rows_from_its_file(tmp_path: Path) -> None:
    from labelloop.active.base import take_rows

    X = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    X.tofile(tmp_path / "x.f32")
    M = np.memmap(tmp_path / "x.f32", dtype=np.float32, mode="r", shape=(50, 3))
    for rows in ([4, 5, 6, 40], [7, 2, 7, 49, 0], [], np.arange(50)):
        got = take_rows(M, rows)
        assert not isinstance(got, np.memmap) and np.array_equal(got, X[np.asarray(rows, int)])
    assert np.array_equal(take_rows(M[10:], [0, 3]), X[[10, 13]])  # a view: plain indexing
    assert np.array_equal(take_rows(X, [1, 1]), X[[1, 1]])
