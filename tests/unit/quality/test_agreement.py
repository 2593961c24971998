"""Agreement metrics against scikit-learn, statsmodels and krippendorff on real crowd data."""

from __future__ import annotations

import pytest

from labelloop.errors import ValidationError
from labelloop.quality import (
    bootstrap_ci,
    cohen_kappa,
    fleiss_kappa,
    krippendorff_alpha,
    per_class_agreement,
    percent_agreement,
)


def _positions(table):
    """Labels as (item, rating slot) matrix: the i-th label of each item in slot i."""
    t = table.assign(slot=table.groupby("item").cumcount())
    return t.pivot(index="item", columns="slot", values="label").to_numpy()


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_kappa_matches_sklearn(snow, weights):
    metrics = pytest.importorskip("sklearn.metrics")
    _, table, _ = snow
    slots = _positions(table)
    for j in range(1, 4):
        a, b = slots[:, 0], slots[:, j]
        expected = metrics.cohen_kappa_score(a, b, weights=weights)
        assert cohen_kappa(a, b, weights=weights) == pytest.approx(expected, abs=1e-9)


def test_fleiss_kappa_matches_statsmodels(snow):
    ir = pytest.importorskip("statsmodels.stats.inter_rater")
    _, table, _ = snow
    counts, _ = ir.aggregate_raters(_positions(table))
    assert fleiss_kappa(table) == pytest.approx(ir.fleiss_kappa(counts), abs=1e-9)


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_krippendorff_matches_package_with_missing_data(snow, level):
    kd = pytest.importorskip("krippendorff")
    _, table, _ = snow
    if level == "ratio" and table["label"].min() < 0:
        # a ratio scale has a true zero: shift the scores onto one (valence runs -100..100)
        table = table.assign(label=table["label"] - table["label"].min())
    # items x annotators: every annotator labels only a few items, so most cells are missing
    wide = table.pivot_table(index="item", columns="annotator", values="label", aggfunc="first")
    expected = kd.alpha(reliability_data=wide.to_numpy(float).T, level_of_measurement=level)
    assert krippendorff_alpha(table, level=level) == pytest.approx(expected, abs=1e-9)
    assert krippendorff_alpha(wide.to_numpy(float), level=level) == pytest.approx(
        expected, abs=1e-9
    )


def test_percent_and_per_class_agreement_by_hand():
    table = [(1, "a", "x"), (1, "b", "x"), (1, "c", "y"), (2, "a", "y"), (2, "b", "y")]
    # item 1: 1 agreeing pair of 3; item 2: 1 of 1
    assert percent_agreement(table) == pytest.approx((1 / 3 + 1) / 2)
    # x: item 1 n_x=2 -> 2*1 / (2*2) ; y: item1 n_y=1 -> 0/(1*2), item2 n_y=2 -> 2/(2*1)
    assert per_class_agreement(table) == pytest.approx({"x": 0.5, "y": 2 / 4})


def test_bootstrap_ci_brackets_the_estimate_and_is_reproducible(snow):
    _, table, _ = snow
    ci = bootstrap_ci(fleiss_kappa, table, n_resamples=60, seed=1)
    assert ci.low <= ci.estimate <= ci.high
    assert ci.estimate == pytest.approx(fleiss_kappa(table))
    again = bootstrap_ci(fleiss_kappa, table, n_resamples=60, seed=1)
    assert (again.low, again.high) == (ci.low, ci.high)


def test_degenerate_and_bad_input():
    assert cohen_kappa([1, 1, 1], [1, 1, 1]) == 1.0
    with pytest.raises(ValidationError, match="same length"):
        cohen_kappa([1, 2], [1])
    with pytest.raises(ValidationError, match="weights"):
        cohen_kappa([1, 2], [1, 2], weights="cubic")
    with pytest.raises(ValidationError, match="two or more"):
        fleiss_kappa([(1, "a", 0), (2, "a", 1)])
    with pytest.raises(ValidationError, match="level"):
        krippendorff_alpha([(1, "a", 0), (1, "b", 1)], level="circular")
    with pytest.raises(ValidationError, match="numeric"):
        krippendorff_alpha([(1, "a", "x"), (1, "b", "y")], level="interval")
