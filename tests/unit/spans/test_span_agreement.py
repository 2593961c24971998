"""Span agreement between annotators: exact and overlap P/R/F1, token kappa."""

from __future__ import annotations

import pytest

from labelloop.core.records import Span
from labelloop.errors import ValidationError
from labelloop.quality import span_agreement, span_token_kappa

TEXTS = ["Ada Lovelace met Charles Babbage in London .", "Paris is big ."]
A = [[(0, 12, "PER"), (17, 32, "PER"), (36, 42, "LOC")], [(0, 5, "LOC")]]
B = [[(4, 12, "PER"), (17, 32, "PER"), (36, 42, "ORG")], []]


def test_identical_annotators_agree_fully() -> None:
    same = span_agreement(A, A)
    assert (same.precision, same.recall, same.f1, same.matched) == (1.0, 1.0, 1.0, 4)
    assert span_token_kappa(TEXTS, A, A) == pytest.approx(1.0)
    empty = span_agreement([[]], [[]], match="overlap")
    assert empty.f1 == 1.0 and empty.n_a == 0


def test_exact_overlap_and_label_free_matching() -> None:
    exact = span_agreement(A, B)
    assert (exact.n_a, exact.n_b, exact.matched) == (4, 3, 1)
    assert exact.precision == pytest.approx(1 / 3) and exact.recall == pytest.approx(1 / 4)
    assert exact.f1 == pytest.approx(2 / 7)
    overlap = span_agreement(A, B, match="overlap")  # "Lovelace" inside "Ada Lovelace"
    assert overlap.matched == 2
    unlabelled = span_agreement(A, B, match="overlap", labels=False)  # LOC vs ORG too
    assert unlabelled.matched == 3 and unlabelled.precision == 1.0


def test_overlap_matching_is_one_to_one_largest_first() -> None:
    a = [[(0, 10, "X")]]
    b = [[(0, 3, "X"), (2, 10, "X")]]
    got = span_agreement(a, b, match="overlap")
    assert got.matched == 1 and got.precision == 0.5 and got.recall == 1.0


def test_token_kappa_drops_with_disagreement_and_takes_span_objects() -> None:
    objects = [[Span(start=s, end=e, label=lab) for s, e, lab in item] for item in B]
    kappa = span_token_kappa(TEXTS, A, objects)
    assert 0.0 < kappa < 1.0
    assert span_token_kappa(TEXTS, A, B) == pytest.approx(kappa)


def test_bad_input_is_named() -> None:
    with pytest.raises(ValidationError, match="got spans of 2 items from a and 1 from b"):
        span_agreement(A, B[:1])
    with pytest.raises(ValidationError, match=r"b: expected spans \(start, end, label\)"):
        span_agreement([[]], [[(5, 2, "X")]])
    with pytest.raises(ValidationError, match="match must be 'exact' or 'overlap'"):
        span_agreement(A, B, match="fuzzy")  # type: ignore[arg-type]
