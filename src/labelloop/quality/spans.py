"""Agreement between two annotators' spans: span-level precision/recall/F1 and token kappa.

Spans are ``(start, end, label)`` in characters of the item's text, ``end`` exclusive (a
:class:`~labelloop.core.records.Span` works too). Two spans match *exactly* when start,
end (and label) are equal, or by *overlap* when they share at least one character (and
the label); overlap matching is one to one, the largest overlaps first.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from labelloop.core.spans import spans_to_tags, token_spans, tokenize
from labelloop.errors import ValidationError
from labelloop.quality.agreement import cohen_kappa

Match = Literal["exact", "overlap"]
SpanLike = Any
"""``(start, end, label)`` or an object with ``start``, ``end`` and ``label``."""


def _triples(spans: Sequence[SpanLike], name: str) -> list[tuple[int, int, Hashable]]:
    out = []
    for s in spans:
        t = (s.start, s.end, s.label) if hasattr(s, "start") else tuple(s)
        if len(t) != 3 or not (isinstance(t[0], int) and isinstance(t[1], int)) or t[1] <= t[0]:
            raise ValidationError(f"{name}: expected spans (start, end, label) with "
                                  f"start < end, got {s!r}")
        out.append(t)
    return out


@dataclass(frozen=True)
class SpanAgreement:
    """How well annotator ``b``'s spans agree with annotator ``a``'s over a set of items.

    Attributes
    ----------
    match:
        ``"exact"`` or ``"overlap"``.
    n_a, n_b, matched:
        Spans of each annotator, and matched pairs.
    precision, recall:
        ``matched / n_b`` and ``matched / n_a`` (``b`` read against ``a``); 1.0 when the
        denominator is 0.
    f1:
        ``2 * matched / (n_a + n_b)``: symmetric; 1.0 when neither marked anything.
    """

    match: Match
    n_a: int
    n_b: int
    matched: int
    precision: float
    recall: float
    f1: float


def _matches(a: list[tuple[int, int, Hashable]], b: list[tuple[int, int, Hashable]],
             match: Match, labels: bool) -> int:
    if match == "exact":
        width = 3 if labels else 2
        return len({s[:width] for s in a} & {s[:width] for s in b})
    pairs = []
    for i, (s1, e1, l1) in enumerate(a):
        for j, (s2, e2, l2) in enumerate(b):
            shared = min(e1, e2) - max(s1, s2)
            if shared > 0 and (not labels or l1 == l2):
                pairs.append((-shared, i, j))
    used_a: set[int] = set()
    used_b: set[int] = set()
    for _, i, j in sorted(pairs):
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
    return len(used_a)


def span_agreement(
    a: Sequence[Sequence[SpanLike]],
    b: Sequence[Sequence[SpanLike]],
    *,
    match: Match = "exact",
    labels: bool = True,
) -> SpanAgreement:
    """Span-level agreement of two annotators over the same items.

    Parameters
    ----------
    a, b:
        Per item, each annotator's spans (aligned item by item).
    match:
        ``"exact"`` (same start and end) or ``"overlap"`` (sharing a character, one to one).
    labels:
        Whether matched spans must also have the same label.

    Raises
    ------
    ValidationError
        If the two lists differ in length, a span is malformed, or ``match`` is unknown.
    """
    if match not in ("exact", "overlap"):
        raise ValidationError(f"match must be 'exact' or 'overlap', got {match!r}")
    if len(a) != len(b):
        raise ValidationError(f"got spans of {len(a)} items from a and {len(b)} from b")
    n_a = n_b = matched = 0
    for left, right in zip(a, b, strict=True):
        x, y = _triples(left, "a"), _triples(right, "b")
        n_a += len(set(x))
        n_b += len(set(y))
        matched += _matches(sorted(set(x)), sorted(set(y)), match, labels)
    precision = matched / n_b if n_b else 1.0
    recall = matched / n_a if n_a else 1.0
    f1 = 2 * matched / (n_a + n_b) if n_a + n_b else 1.0
    return SpanAgreement(match, n_a, n_b, matched, precision, recall, f1)


def span_token_kappa(texts: Sequence[str], a: Sequence[Sequence[SpanLike]],
                     b: Sequence[Sequence[SpanLike]]) -> float:
    """Cohen's kappa between two annotators' token tags (IO: the label, or O) over every
    token of ``texts`` (the word/punctuation tokenizer of :mod:`labelloop.core.spans`).

    Raises
    ------
    ValidationError
        If ``texts``, ``a`` and ``b`` differ in length or a span is malformed.
    """
    if not len(texts) == len(a) == len(b):
        raise ValidationError(f"got {len(texts)} texts and spans of {len(a)} and {len(b)} "
                              "items")
    names: dict[Hashable, int] = {}
    tags_a: list[int] = []
    tags_b: list[int] = []
    for text, left, right in zip(texts, a, b, strict=True):
        tokens = tokenize(text)
        for spans, out, who in ((left, tags_a, "a"), (right, tags_b, "b")):
            ids = [(s, e, names.setdefault(label, len(names))) for s, e, label in
                   _triples(spans, who)]
            out.extend(spans_to_tags(token_spans(ids, tokens), len(tokens),
                                     scheme="IO").tolist())
    return cohen_kappa(tags_a, tags_b)


__all__ = ["SpanAgreement", "span_agreement", "span_token_kappa"]
