"""Nearest neighbours: the blocked exact search is exact, HNSW agrees with it on small sets
and keeps its recall on a larger one."""

from __future__ import annotations

import numpy as np
import pytest

from labelloop.errors import ValidationError
from labelloop.prelabel import neighbors
from labelloop.prelabel.neighbors import nearest_neighbors


def _unit(rng: np.random.Generator, n: int, dim: int, centers: int = 0) -> np.ndarray:
    X = rng.standard_normal((n, dim)).astype(np.float32)
    if centers:
        C = rng.standard_normal((centers, dim)).astype(np.float32) * 3
        X += C[rng.integers(0, centers, n)]
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def _brute(q: np.ndarray, ref: np.ndarray, k: int, exclude_self: bool) -> np.ndarray:
    sims = q.astype(np.float64) @ ref.T.astype(np.float64)
    order = np.argsort(-sims, axis=1, kind="stable")
    if exclude_self:
        return np.array([[j for j in row if sims[i, j] < 1 - 1e-5][:k]
                         for i, row in enumerate(order)])
    return order[:, :k]


@pytest.mark.parametrize("exclude_self", [True, False])
def test_blocked_exact_search_equals_brute_force(
    exclude_self: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(0)
    X = _unit(rng, 700, 16)
    monkeypatch.setattr(neighbors, "BLOCK_BYTES", 4 * 700 * 37)  # 37 queries per block
    got = nearest_neighbors(X, X, 8, exclude_self=exclude_self, method="exact")
    np.testing.assert_array_equal(got, _brute(X, X, 8, exclude_self))


@pytest.mark.parametrize("exclude_self", [True, False])
def test_hnsw_equals_exact_on_a_small_set(exclude_self: bool) -> None:
    pytest.importorskip("faiss")
    rng = np.random.default_rng(1)
    X = _unit(rng, 400, 24)
    Q = np.concatenate([X[:50], _unit(rng, 50, 24)])
    exact = nearest_neighbors(Q, X, 10, exclude_self=exclude_self, method="exact")
    ann = nearest_neighbors(Q, X, 10, exclude_self=exclude_self, method="hnsw")
    np.testing.assert_array_equal(ann, exact)


def test_hnsw_recall_on_a_larger_set() -> None:
    pytest.importorskip("faiss")
    rng = np.random.default_rng(2)
    X = _unit(rng, 30_000, 48, centers=50)
    Q = X[rng.choice(len(X), 1_000, replace=False)]
    exact = nearest_neighbors(Q, X, 10, exclude_self=True, method="exact")
    ann = nearest_neighbors(Q, X, 10, exclude_self=True, method="hnsw")
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(ann, exact, strict=True)])
    assert recall >= 0.95


def test_auto_takes_hnsw_only_for_large_references(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("faiss")
    used: list[str] = []
    real_exact, real_hnsw = neighbors._exact_search, neighbors._hnsw_search
    monkeypatch.setattr(neighbors, "_exact_search",
                        lambda *a: used.append("exact") or real_exact(*a))
    monkeypatch.setattr(neighbors, "_hnsw_search", lambda *a: used.append("hnsw") or real_hnsw(*a))
    monkeypatch.setattr(neighbors, "ANN_MIN_ITEMS", 300)
    rng = np.random.default_rng(3)
    nearest_neighbors(_unit(rng, 10, 8), _unit(rng, 299, 8), 3, exclude_self=False)
    nearest_neighbors(_unit(rng, 10, 8), _unit(rng, 300, 8), 3, exclude_self=False)
    assert used == ["exact", "hnsw"]


def test_edge_cases_and_bad_input() -> None:
    X = _unit(np.random.default_rng(4), 3, 4)
    assert nearest_neighbors(X, X[:1], 5, exclude_self=True).shape == (3, 0)
    assert nearest_neighbors(X, X, 5, exclude_self=False).shape == (3, 3)
    with pytest.raises(ValidationError, match="method must be"):
        nearest_neighbors(X, X, 2, exclude_self=True, method="lsh")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="one width"):
        nearest_neighbors(X, X[:, :2], 2, exclude_self=True)
