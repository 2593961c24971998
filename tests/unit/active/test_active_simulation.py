"""Simulation harness and stopping criteria."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from labelloop.active import RandomSampling, should_stop, simulate
from labelloop.active.stopping import kappa
from labelloop.errors import ValidationError


@pytest.fixture(scope="module")
def threshold_data() -> tuple[np.ndarray, np.ndarray]:
    """1-D pool with a sharp boundary at 0: the full model is perfect, and the only
    informative labels are the few near the boundary."""
    x = np.random.default_rng(0).uniform(-1, 1, size=400)
    return x[:, None], (x > 0).astype(int)


def test_random_run_replays_a_hand_written_loop(threshold_data) -> None:
    X, y = threshold_data
    res = simulate(X, y, strategies=["random"], batch_size=10, budget=30, seeds=[3])
    rng = np.random.default_rng(3)
    labeled = np.empty(0, dtype=int)
    expected = []
    for _ in range(3):
        labeled = np.concatenate(
            [labeled, RandomSampling().select(None, X, 10, labeled=labeled, random_state=rng)]
        )
        model = LogisticRegression(max_iter=1000).fit(X[labeled], y[labeled])
        expected.append(np.mean(model.predict(X) == y))
    assert [p.n_labels for p in res.points] == [10, 20, 30]
    np.testing.assert_allclose([p.accuracy for p in res.points], expected)


def test_uncertainty_needs_fewer_labels_than_random_on_a_threshold(threshold_data) -> None:
    X, y = threshold_data
    res = simulate(
        X,
        y,
        strategies=["random", "margin"],
        estimator=LogisticRegression(C=1e4),
        batch_size=2,
        budget=60,
        seeds=range(3),
        target=1.0,
    )
    assert res.full_accuracy == 1.0
    summary = {r["strategy"]: r for r in res.summary()}
    # margin queries around the boundary and closes in on it; random wastes labels far away
    assert summary["margin"]["reached"] == 3
    assert summary["random"]["reached"] < 3
    assert summary["margin"]["ratio"] < 0.5


def test_labels_to_reach_is_the_first_curve_point_at_the_target(threshold_data) -> None:
    X, y = threshold_data
    res = simulate(X, y, strategies={"m": "margin"}, batch_size=5, budget=60, seeds=[0, 1])
    target = res.target_accuracy
    for i, seed in enumerate(res.seeds):
        curve = [p for p in res.points if p.seed == seed]
        hits = [p.n_labels for p in curve if p.accuracy >= target]
        assert res.labels_to_reach["m"][i] == (hits[0] if hits else None)


def test_stop_at_target_ends_each_run_where_it_reaches(threshold_data) -> None:
    X, y = threshold_data
    kwargs = {"strategies": ["margin"], "batch_size": 5, "budget": 60, "seeds": [0, 1]}
    full = simulate(X, y, **kwargs)
    short = simulate(X, y, stop_at_target=True, **kwargs)
    assert short.labels_to_reach == full.labels_to_reach
    for seed, reached in zip(short.seeds, short.labels_to_reach["margin"], strict=True):
        last = max(p.n_labels for p in short.points if p.seed == seed)
        assert last == (60 if reached is None else reached)


def test_markdown_table_and_plot(tmp_path, threshold_data) -> None:
    X, y = threshold_data
    res = simulate(
        X[:100],
        y[:100],
        X_test=X[100:],
        y_test=y[100:],
        strategies=["random", "hybrid"],
        batch_size=10,
        budget=40,
        seeds=[0, 1],
    )
    table = res.to_markdown(checkpoints=(20, 40))
    assert table.splitlines()[0].startswith("| strategy | labels to target")
    assert len(table.splitlines()) == 4 and "| hybrid |" in table
    sizes, mean, std = res.curve("hybrid")
    assert sizes.tolist() == [10, 20, 30, 40] and mean.shape == std.shape == (4,)
    png = res.plot(tmp_path / "curve.png", title="t")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_simulate_validates_its_inputs(threshold_data) -> None:
    X, y = threshold_data
    with pytest.raises(ValidationError, match="X_test and y_test"):
        simulate(X, y, X_test=X)
    with pytest.raises(ValidationError, match=r"\(n, d\)"):
        simulate(X[:, 0], y)
    with pytest.raises(ValidationError, match="target"):
        simulate(X, y, target=1.5)


def test_should_stop_reports_every_reason() -> None:
    go_on = should_stop(n_labeled=10, budget=100, accuracy=0.5, target_accuracy=0.9)
    assert not go_on and go_on.reasons == () and "keep labeling" in go_on.message
    stop = should_stop(n_labeled=100, budget=100, accuracy=0.95, target_accuracy=0.9)
    assert stop.stop and stop.reasons == ("budget", "target_accuracy")
    assert "100 labels used" in stop.message and "0.9500" in stop.message


def test_stabilizing_predictions_needs_a_full_window_of_agreement() -> None:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 3, size=500)
    noisy = base.copy()
    noisy[:100] = (noisy[:100] + 1) % 3
    history = [noisy, base, base, base]
    assert should_stop(predictions=history, window=3).stop is False
    decision = should_stop(predictions=[*history, base], window=3)
    assert decision.reasons == ("stabilizing_predictions",)
    assert decision.agreements == (1.0, 1.0, 1.0)
    assert should_stop(predictions=history[:2], window=3).stop is False


def test_kappa_known_values() -> None:
    assert kappa([0, 1, 0, 1], [0, 1, 0, 1]) == 1.0
    assert kappa([0, 0, 1, 1], [0, 1, 0, 1]) == 0.0
    assert kappa([2, 2], [2, 2]) == 1.0
    with pytest.raises(ValidationError):
        kappa([1, 2], [1])


def test_should_stop_wants_pairs_of_inputs() -> None:
    with pytest.raises(ValidationError, match="budget"):
        should_stop(n_labeled=3)
    with pytest.raises(ValidationError, match="target_accuracy"):
        should_stop(accuracy=0.3)
