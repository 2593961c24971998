"""The one converter between the long table and the label matrix, and the shared Wilson interval."""

from __future__ import annotations

import math

import numpy as np
import pytest

from labelloop.core.longtable import as_long_table, encode_gold
from labelloop.core.matrix import LabelMatrix
from labelloop.core.stats import wilson_interval
from labelloop.errors import ValidationError


def test_long_to_matrix_and_back():
    rows = [("b", "w2", "pos"), ("a", "w1", "neg"), ("b", "w1", "pos"), ("c", "w2", "neg")]
    t = as_long_table(rows)
    lm = t.to_matrix()
    assert lm.item_ids == ["a", "b", "c"] and lm.source_ids == ["w1", "w2"]
    assert t.classes == ["neg", "pos"]
    np.testing.assert_array_equal(lm.L, [[0, -1], [1, 1], [-1, 0]])
    back = as_long_table(LabelMatrix(lm.L, lm.item_ids, lm.source_ids))
    def triples(x):
        return sorted(zip(x.item.tolist(), x.annotator.tolist(), x.label.tolist(), strict=True))

    assert triples(back) == triples(t)
    np.testing.assert_array_equal(encode_gold({"c": "pos", "zz": "neg"}, t), [-1, -1, 1])


def test_annotator_order_is_fixed_when_given():
    t = as_long_table([(1, "b", 0), (1, "a", 1)], annotators=["c", "b", "a"])
    assert t.annotators == ["c", "b", "a"]
    np.testing.assert_array_equal(t.to_matrix().L, [[-1, 0, 1]])
    again = as_long_table(as_long_table([(1, "a", 1)]), annotators=["b", "a"])
    np.testing.assert_array_equal(again.to_matrix().L, [[-1, 0]])
    with pytest.raises(ValidationError, match="not one of the given annotators"):
        as_long_table([(1, "z", 0)], annotators=["a"])


def test_wilson_interval_scalars_and_arrays():
    lo, hi = wilson_interval(8, 10)
    assert isinstance(lo, float) and 0.49 < lo < 0.8 < hi < 0.97
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    low, high = wilson_interval(np.array([0, 5, 10]), np.array([10, 10, 10]))
    np.testing.assert_allclose([low[0], high[2]], [0.0, 1.0], atol=1e-12)
    assert np.all((low >= 0) & (low <= high) & (high <= 1))
    with pytest.raises(ValidationError):
        wilson_interval(1, 2, confidence=1.5)
