"""The span label model: token matrix, BIO repair, decodes, base models and the guardrail."""

from __future__ import annotations

import numpy as np
import pytest

from labelloop.core.spans import span_prf
from labelloop.errors import NotFittedError, ValidationError
from labelloop.labelmodels import GuardrailWarning
from labelloop.labelmodels.spans import SpanLabelModel, token_matrix, viterbi_bio


def test_token_matrix_keeps_candidate_tokens_only() -> None:
    votes = [[[(1, 3, 0)], []], [[], [(0, 1, 1)]]]
    L, cand = token_matrix(votes, [4, 2], scheme="BIO", silence="missing")
    assert cand.tolist() == [False, True, True, False, True, False]
    assert L.dtype == np.int8 and L.tolist() == [[1, -1], [2, -1], [-1, 3]]
    L, _ = token_matrix(votes, [4, 2], scheme="IO", silence="O")
    assert L.tolist() == [[1, 0], [1, 0], [0, 2]]
    with pytest.raises(ValidationError, match="item 0, source 0: span"):
        token_matrix([[[(3, 9, 0)]]], [4])


def test_viterbi_never_puts_an_i_after_o_or_another_class() -> None:
    # argmax per token would read O, I-0, I-1: not a valid BIO sequence
    p = np.array([[0.9, 0.05, 0.05, 0.0, 0.0],
                  [0.1, 0.3, 0.4, 0.1, 0.1],
                  [0.1, 0.1, 0.25, 0.15, 0.4]])
    tags = viterbi_bio(np.log(np.maximum(p, 1e-12)))
    assert tags.tolist() == [0, 1, 2]


def _toy(n_items: int = 60) -> tuple[list, list, list]:
    """Three sources: 0 finds every entity alone (high recall), 1 and 2 only a few, and
    all of them exact; entities are (2, 4, 0) and (5, 6, 1) in every item."""
    votes, gold, lengths = [], [], []
    for i in range(n_items):
        g = [(2, 4, 0), (5, 6, 1)]
        few = g[:1] if i % 3 == 0 else []
        votes.append([list(g), few, few])
        gold.append(g)
        lengths.append(8)
    return votes, gold, lengths


@pytest.mark.parametrize("scheme,decode", [("IO", "runs"), ("IO", "split"), ("BIO", "viterbi")])
def test_majority_and_dawid_skene_recover_exact_sources(scheme: str, decode: str) -> None:
    votes, gold, lengths = _toy()
    for base in ("majority", "dawid-skene"):
        m = SpanLabelModel(2, base=base, scheme=scheme, decode=decode).fit(votes, lengths)  # type: ignore[arg-type]
        assert span_prf(m.predict(votes, lengths), gold) == (1.0, 1.0, 1.0)
        P = m.predict_proba(votes, lengths)
        assert P.shape == (8 * 60, 3 if scheme == "IO" else 5)
        assert np.allclose(P.sum(axis=1), 1.0) and (P[:, 0] == 1.0).sum() >= 60 * 5


def test_split_decode_separates_adjacent_spans_io_merges() -> None:
    votes = [[[(0, 2, 0)], [(2, 3, 0)]]] * 4
    runs = SpanLabelModel(1, base="majority", scheme="IO").fit(votes, [4] * 4)
    split = SpanLabelModel(1, base="majority", scheme="IO", decode="split").fit(votes, [4] * 4)
    assert runs.predict(votes[:1], [4]) == [[(0, 3, 0)]]
    assert split.predict(votes[:1], [4]) == [[(0, 2, 0), (2, 3, 0)]]


def test_o_bias_trades_recall_for_precision() -> None:
    votes, _, lengths = _toy()
    m = SpanLabelModel(2, scheme="IO", o_bias=50.0).fit(votes, lengths)
    assert m.predict(votes, lengths)[0] == []


def test_guardrail_falls_back_to_majority_vote_on_gold() -> None:
    votes, gold, lengths = _toy(90)
    some = [g if i < 40 else None for i, g in enumerate(gold)]
    # a bias that drops every span: span F1 0 cross-fitted on the 40 gold items, where
    # majority vote scores 1, so the guardrail replaces it
    with pytest.warns(GuardrailWarning, match="falling back to majority vote"):
        m = SpanLabelModel(2, scheme="IO", o_bias=50.0).fit(votes, lengths, some)
    assert m.fallback_ and m.guardrail_ is not None
    assert m.guardrail_ == {"label_model": 0.0, "majority_vote": 1.0, "n_items": 40.0}
    assert span_prf(m.predict(votes, lengths), gold)[2] == pytest.approx(1.0)
    fair = SpanLabelModel(2, scheme="IO").fit(votes, lengths, some)
    assert not fair.fallback_ and fair.guardrail_ is not None
    few = SpanLabelModel(2, scheme="IO", o_bias=50.0).fit(votes, lengths, some[:10] + [None] * 80)
    assert few.guardrail_ is None and not few.fallback_  # under guardrail_min_items


def test_bad_settings_and_unfitted_use_raise() -> None:
    votes, _, lengths = _toy(3)
    with pytest.raises(NotFittedError):
        SpanLabelModel(2).predict(votes, lengths)
    with pytest.raises(ValidationError, match="does not fit the IO scheme"):
        SpanLabelModel(2, scheme="IO", decode="viterbi").fit(votes, lengths)
    with pytest.raises(ValidationError, match="silence must be one of"):
        SpanLabelModel(2, silence="maybe").fit(votes, lengths)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="votes hold class 1 but n_classes=1"):
        SpanLabelModel(1).fit(votes, lengths)
