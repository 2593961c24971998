"""calibrate_thresholds: exact bounds, per-class thresholds, coverage, resampled guarantee."""

from __future__ import annotations

import math

import numpy as np
import pytest

from labelloop.errors import ValidationError
from labelloop.prelabel import calibrate_thresholds, clopper_pearson_lower


def test_clopper_pearson_matches_closed_forms() -> None:
    # all successes: the bound solves p**n = alpha
    assert clopper_pearson_lower(59, 59, 0.05) == pytest.approx(0.05 ** (1 / 59), abs=1e-9)
    assert clopper_pearson_lower(0, 10, 0.05) == 0.0
    # one success out of one: p = alpha
    assert clopper_pearson_lower(1, 1, 0.1) == pytest.approx(0.1, abs=1e-9)


def test_clopper_pearson_matches_beta_quantile() -> None:
    stats = pytest.importorskip("scipy.stats")
    for k, n in [(90, 100), (480, 500), (3, 7)]:
        expected = stats.beta.ppf(0.05, k, n - k + 1)
        assert clopper_pearson_lower(k, n, 0.05) == pytest.approx(expected, abs=1e-7)


def _simulate(rng: np.random.Generator, n: int, k: int = 3) -> tuple[np.ndarray, ...]:
    """Drafts whose chance of being right equals their score."""
    scores = rng.uniform(0.4, 1.0, n)
    predicted = rng.integers(0, k, n)
    right = rng.random(n) < scores
    truth = np.where(right, predicted, (predicted + 1) % k)
    return scores, predicted, truth


def test_too_few_checked_drafts_means_everything_needs_review() -> None:
    scores, predicted, truth = _simulate(np.random.default_rng(0), 30)
    cal = calibrate_thresholds(scores, predicted, truth, n_classes=3)
    assert np.isinf(cal.thresholds).all() and cal.coverage == 0.0
    assert not cal.accept(np.array([1.0]), np.array([0])).any()


def test_unchecked_rows_are_ignored() -> None:
    scores, predicted, truth = _simulate(np.random.default_rng(1), 2000)
    masked = truth.copy()
    masked[1000:] = -1
    a = calibrate_thresholds(scores, predicted, masked, n_classes=3)
    b = calibrate_thresholds(scores[:1000], predicted[:1000], truth[:1000], n_classes=3)
    np.testing.assert_array_equal(a.thresholds, b.thresholds)
    assert a.n_checked.sum() == 1000


def test_thresholds_reach_the_target_in_most_resamples() -> None:
    rng = np.random.default_rng(2)
    target, misses, coverages = 0.9, 0, []
    for _ in range(100):
        cal = calibrate_thresholds(*_simulate(rng, 1500), target_precision=target, delta=0.05)
        scores, predicted, truth = _simulate(rng, 20000)
        accepted = cal.accept(scores, predicted)
        coverages.append(accepted.mean())
        if accepted.any():
            misses += (truth[accepted] == predicted[accepted]).mean() < target
    assert misses <= 5
    # with P(right) = score, an oracle threshold near 0.8 would accept a third
    assert 0.03 < np.mean(coverages) < 0.4


def test_calibration_reports_bounds_and_serialises() -> None:
    scores, predicted, truth = _simulate(np.random.default_rng(3), 3000)
    cal = calibrate_thresholds(scores, predicted, truth, target_precision=0.9)
    finite = np.isfinite(cal.thresholds)
    assert finite.any() and (cal.lower_bounds[finite] >= 0.9).all()
    d = cal.to_dict()
    assert d["coverage"] == pytest.approx(cal.n_accepted.sum() / 3000)
    assert all(t is None or isinstance(t, float) for t in d["thresholds"])
    assert not math.isnan(d["coverage"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"target_precision": 1.0}, "target_precision"), ({"delta": 0.0}, "delta")],
)
def test_bad_options_are_rejected(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        calibrate_thresholds(np.ones(3), np.zeros(3, int), np.zeros(3, int), **kwargs)


def test_mismatched_lengths_are_rejected() -> None:
    with pytest.raises(ValidationError, match="one length"):
        calibrate_thresholds(np.ones(3), np.zeros(2, int), np.zeros(3, int))


def test_one_threshold_for_all_classes_accepts_more_at_the_same_target() -> None:
    rng = np.random.default_rng(4)
    checked = _simulate(rng, 1500)
    per = calibrate_thresholds(*checked, target_precision=0.9)
    pooled = calibrate_thresholds(*checked, target_precision=0.9, per_class=False)
    assert not pooled.per_class and len(set(pooled.thresholds.tolist())) == 1
    assert pooled.coverage >= per.coverage
    assert pooled.to_dict()["per_class"] is False
    misses = 0
    for _ in range(100):
        cal = calibrate_thresholds(*_simulate(rng, 1500), target_precision=0.9, per_class=False)
        scores, predicted, truth = _simulate(rng, 20000)
        accepted = cal.accept(scores, predicted)
        misses += accepted.any() and (truth[accepted] == predicted[accepted]).mean() < 0.9
    assert misses <= 5


def _image(rng: np.random.Generator, score: float, right: bool) -> tuple[list, list]:
    """One image: a draft box with ``score`` and the human's box (moved when wrong)."""
    from labelloop.core import Box

    x, y = rng.uniform(0, 50, 2)
    draft = [Box(x=x, y=y, w=20, h=20, label="cell", score=score)]
    human = [Box(x=x if right else x + 15, y=y, w=20, h=20, label="cell")]
    return draft, human


@pytest.mark.slow
def test_box_threshold_holds_the_target_on_new_images() -> None:
    from labelloop.prelabel import calibrate_box_threshold

    rng = np.random.default_rng(0)

    def sample(n: int) -> tuple[list, list, np.ndarray, np.ndarray]:
        scores = rng.uniform(0.3, 1.0, n)
        right = rng.random(n) < 2 * scores - 0.8  # right from 0.4 up, always from 0.9
        pairs = [_image(rng, s, r) for s, r in zip(scores, right, strict=True)]
        return [d for d, _ in pairs], [h for _, h in pairs], scores, right

    met = []
    for _ in range(20):
        drafts, humans, _, _ = sample(400)
        cal = calibrate_box_threshold(drafts, humans, target_precision=0.9)
        t = cal.thresholds[0]
        assert np.isfinite(t) and 0 < cal.coverage < 1
        _, _, scores, right = sample(4000)
        met.append(right[scores >= t].mean() >= 0.9)
    assert np.mean(met) >= 0.95


def test_box_threshold_counts_labels_and_missing_boxes() -> None:
    from labelloop.core import Box
    from labelloop.prelabel import calibrate_box_threshold

    box = Box(x=0, y=0, w=10, h=10, label="cell", score=0.99)
    other = box.model_copy(update={"label": "blob", "score": None})
    # right geometry, wrong label: every draft is wrong, so nothing is auto-accepted
    cal = calibrate_box_threshold([[box]] * 200, [[other]] * 200, target_precision=0.9)
    assert math.isinf(cal.thresholds[0]) and cal.coverage == 0
    # a draft that missed the only object is never accepted, whatever its score
    cal = calibrate_box_threshold([[]] * 200, [[other]] * 200, target_precision=0.9)
    assert math.isinf(cal.thresholds[0])
    with pytest.raises(ValidationError, match="same images"):
        calibrate_box_threshold([[box]], [], target_precision=0.9)
