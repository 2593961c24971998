"""Contract tests: every registered QueryStrategy honours the same promises."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from labelloop.active import STRATEGIES, QueryStrategy, get_strategy, select
from labelloop.errors import EmptyPoolError, ValidationError

NAMES = sorted(STRATEGIES)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # tiny fits: multi-threaded BLAS only spins on a shared CI runner
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def pool() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=3.0, size=(3, 6))
    y = rng.integers(0, 3, size=300)
    return (centers[y] + rng.normal(size=(300, 6))).astype(np.float32), y


@pytest.fixture(scope="module")
def model(pool: tuple[np.ndarray, np.ndarray]) -> LogisticRegression:
    X, y = pool
    return LogisticRegression(max_iter=500).fit(X[:30], y[:30])


@pytest.mark.parametrize("name", NAMES)
def test_is_a_query_strategy(name: str) -> None:
    assert isinstance(get_strategy(name), QueryStrategy)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("source", ["model", "proba", "none"])
def test_returns_n_distinct_unlabeled_indices(name, source, pool, model) -> None:
    X, _ = pool
    labeled = np.arange(30)
    arg = {"model": model, "proba": model.predict_proba(X), "none": None}[source]
    idx = select(arg, X, 17, strategy=name, labeled=labeled, random_state=1)
    assert idx.dtype == np.int64
    assert idx.shape == (17,)
    assert np.unique(idx).size == 17
    assert not np.isin(idx, labeled).any()
    assert idx.min() >= 0 and idx.max() < X.shape[0]


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_under_a_seed(name, pool, model) -> None:
    X, _ = pool
    a = select(model, X, 10, strategy=name, labeled=range(30), random_state=7)
    b = select(model, X, 10, strategy=name, labeled=range(30), random_state=7)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", NAMES)
def test_n_larger_than_the_unlabeled_pool_is_a_clear_error(name, pool, model) -> None:
    X, _ = pool
    with pytest.raises(ValidationError, match=r"n=271 .* only 270 unlabeled"):
        select(model, X, 271, strategy=name, labeled=range(30), random_state=0)


@pytest.mark.parametrize("name", NAMES)
def test_taking_the_whole_unlabeled_pool(name, pool, model) -> None:
    X, _ = pool
    idx = select(model, X, 270, strategy=name, labeled=range(30), random_state=0)
    np.testing.assert_array_equal(np.sort(idx), np.arange(30, 300))


@pytest.mark.parametrize("name", NAMES)
def test_single_class_labeled_set(name, pool) -> None:
    X, _ = pool
    one_class = DummyClassifier().fit(X[:10], np.zeros(10, dtype=int))
    assert one_class.predict_proba(X).shape == (300, 1)
    idx = select(one_class, X, 8, strategy=name, labeled=range(10), random_state=0)
    assert np.unique(idx).size == 8
    assert idx.min() >= 10


@pytest.mark.parametrize("name", NAMES)
def test_empty_pool(name, pool, model) -> None:
    X, _ = pool
    with pytest.raises(EmptyPoolError, match="all 300 items"):
        select(model, X, 1, strategy=name, labeled=range(300))
    with pytest.raises(EmptyPoolError, match="empty"):
        select(None, np.empty((0, 6)), 1, strategy=name)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad_n", [0, -3, 2.5, True])
def test_bad_n(name, pool, bad_n) -> None:
    X, _ = pool
    with pytest.raises(ValidationError, match="positive integer"):
        select(None, X, bad_n, strategy=name)


@pytest.mark.parametrize("name", NAMES)
def test_labeled_index_outside_the_pool(name, pool) -> None:
    X, _ = pool
    with pytest.raises(ValidationError, match="index 300"):
        select(None, X, 3, strategy=name, labeled=[0, 300])
