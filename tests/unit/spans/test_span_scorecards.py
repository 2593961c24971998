"""Scorecards of a span project: honeypots scored by span F1 (exact match), shown to the
annotator only while the project gives honeypot feedback."""

from __future__ import annotations

from labelloop.core.records import AnnotationRecord, Span, UserRecord
from labelloop.core.schema import LabelSchema
from labelloop.services.scorecards import build_scorecards, own_scorecard
from labelloop.storage import Vote

SCHEMA = LabelSchema.from_labels("spans", ["PER", "LOC"])
ANN = UserRecord(id=7, name="ann", role="annotator")


def _vote(kind: str, item: int, spans: list[tuple[int, int, str]]) -> Vote:
    uid = 7 if kind == "human" else None
    return Vote(kind, "ann" if uid else "gold", uid, AnnotationRecord(
        item_id=item, source_id=1 if uid else 2,
        spans=[Span(start=a, end=b, label=c) for a, b, c in spans]))


VOTES = {
    # 1 of 2 gold spans found, plus one wrong span: F1 counts 1 match of 2 + 2 spans
    1: [_vote("gold", 1, [(0, 3, "PER"), (10, 16, "LOC")]),
        _vote("human", 1, [(0, 3, "PER"), (10, 16, "PER")])],
    # exact: both empty agree
    2: [_vote("gold", 2, []), _vote("human", 2, [])],
    3: [_vote("human", 3, [(0, 4, "LOC")])],  # no gold: not a honeypot
}


def test_honeypot_span_f1_is_micro_exact_match() -> None:
    card = build_scorecards(SCHEMA, VOTES, [ANN])[0]
    assert card.labeled == 3 and card.honeypots == 2 and card.honeypots_correct == 1
    assert card.honeypot_span_f1 == 2 * 1 / (2 + 2)


def test_own_card_shows_span_f1_only_with_honeypot_feedback() -> None:
    hidden = own_scorecard(SCHEMA, VOTES, ANN, overlap=1, honeypot_feedback=False)
    assert hidden.honeypot_span_f1 is None and hidden.honeypots == 0
    shown = own_scorecard(SCHEMA, VOTES, ANN, overlap=1, honeypot_feedback=True)
    assert shown.honeypot_span_f1 == 0.5


def test_classification_cards_have_no_span_f1() -> None:
    schema = LabelSchema.from_labels("text-classification", ["a", "b"])
    votes = {1: [Vote("gold", "g", None, AnnotationRecord(item_id=1, source_id=2, label=0)),
                 Vote("human", "ann", 7, AnnotationRecord(item_id=1, source_id=1, label=0))]}
    assert build_scorecards(schema, votes, [ANN])[0].honeypot_span_f1 is None
