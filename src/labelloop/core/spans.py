"""Spans on text: a tokenizer that keeps offsets, snapping, validation and BIO/IO tags.

A span answer is a list of ``(start, end, label)`` on character offsets of the item's
text, ``end`` exclusive. Offsets are snapped outwards to token boundaries of a simple
word/punctuation tokenizer, so a mouse selection that cuts a word takes the whole word.
Token tags are the bridge to the label models: class ``c`` of a ``k``-class schema is
tag ``c + 1`` in the IO scheme (0 = outside) and tags ``2c + 1`` (B) / ``2c + 2`` (I) in
BIO.

Examples
--------
>>> from labelloop.core.spans import tokenize, spans_to_tags, tags_to_spans
>>> tokens = tokenize("Ada Lovelace met Babbage.")
>>> tokens
[(0, 3), (4, 12), (13, 16), (17, 24), (24, 25)]
>>> tags = spans_to_tags([(0, 2, 0), (3, 4, 0)], 5, scheme="BIO")
>>> tags.tolist()
[1, 2, 0, 1, 0]
>>> tags_to_spans(tags, scheme="BIO")
[(0, 2, 0), (3, 4, 0)]
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from labelloop.core.records import Span
from labelloop.errors import ValidationError

if TYPE_CHECKING:
    from labelloop.core.schema import LabelSchema

Scheme = Literal["IO", "BIO"]
TOKEN_PATTERN = re.compile(r"\w+|[^\w\s]")
"""Words (letters, digits, underscore) and single punctuation marks."""


def tokenize(text: str) -> list[tuple[int, int]]:
    """Character offsets ``(start, end)`` of the tokens of ``text``, in order."""
    return [m.span() for m in TOKEN_PATTERN.finditer(text)]


def snap(start: int, end: int, tokens: Sequence[tuple[int, int]]) -> tuple[int, int] | None:
    """``[start, end)`` widened to whole tokens; None when it covers no token.

    A bound inside a token moves to that token's edge; a bound in whitespace moves
    inwards to the nearest token.
    """
    ends = [e for _, e in tokens]
    starts = [s for s, _ in tokens]
    first = bisect_right(ends, start)  # first token ending after start
    last = bisect_left(starts, end) - 1  # last token starting before end
    if first > last or first >= len(tokens) or last < 0:
        return None
    return tokens[first][0], tokens[last][1]


def overlapping(spans: Sequence[tuple[int, int, Any]]) -> tuple[int, int] | None:
    """Indices ``(a, b)`` of two spans that share a character, or None (any order)."""
    order = sorted(range(len(spans)), key=lambda n: (spans[n][0], spans[n][1]))
    for a, b in pairwise(order):
        if spans[b][0] < spans[a][1]:
            return (a, b)
    return None


def parse_spans(
    schema: LabelSchema,
    raw: Any,
    text: str | None,
    *,
    allow_overlap: bool = False,
    snap_to_tokens: bool = True,
) -> list[Span]:
    """Validate a span answer: a list of ``{start, end, label}`` (or ``[start, end, label]``).

    Labels may be class names or indices; spans are snapped to token boundaries (when the
    text is known), sorted, and exact repeats dropped.

    Raises
    ------
    ValidationError
        Naming the span at fault: not a list, an unknown label, offsets outside the text
        or in reverse, a span over whitespace only, or two overlapping spans when the
        project does not allow overlap.
    """
    if not isinstance(raw, list):
        raise ValidationError("a spans answer needs 'spans': a list of {start, end, label} "
                              "(may be empty)")
    tokens = tokenize(text) if text is not None and snap_to_tokens else None
    out: dict[tuple[int, int, str], Span] = {}
    for n, item in enumerate(raw):
        start, end, label, score = _fields(item, n)
        name = schema.names[_index(schema, label, n)]
        if not (isinstance(start, int) and isinstance(end, int)) or isinstance(
                start, bool) or isinstance(end, bool):
            raise ValidationError(f"span {n}: start and end must be integers, "
                                  f"got {start!r}, {end!r}")
        if start < 0 or end <= start:
            raise ValidationError(f"span {n}: needs 0 <= start < end, got [{start}, {end})")
        if text is not None and end > len(text):
            raise ValidationError(f"span {n}: end {end} is past the end of the text "
                                  f"({len(text)} characters)")
        if tokens is not None:
            snapped = snap(start, end, tokens)
            if snapped is None:
                raise ValidationError(f"span {n}: [{start}, {end}) covers no word of the text")
            start, end = snapped
        try:
            span = Span(start=start, end=end, label=name, score=score)
        except ValueError as exc:
            raise ValidationError(f"span {n}: {exc}") from None
        out.setdefault(span.key(), span)
    spans = sorted(out.values(), key=lambda s: (s.start, s.end, s.label))
    if not allow_overlap:
        clash = overlapping([s.key() for s in spans])
        if clash is not None:
            a, b = (spans[i] for i in clash)
            raise ValidationError(
                f"spans overlap: [{a.start}, {a.end}) {a.label} and [{b.start}, {b.end}) "
                f"{b.label}; this project does not allow overlapping spans (setting "
                "allow_overlap)")
    return spans


def _fields(item: Any, n: int) -> tuple[Any, Any, Any, Any]:
    if isinstance(item, Mapping):
        missing = [k for k in ("start", "end", "label") if k not in item]
        if missing:
            raise ValidationError(f"span {n}: missing {', '.join(missing)}; give "
                                  "{start, end, label}")
        return item["start"], item["end"], item["label"], item.get("score")
    if isinstance(item, list | tuple) and len(item) == 3:
        return item[0], item[1], item[2], None
    raise ValidationError(f"span {n}: expected {{start, end, label}} or [start, end, label], "
                          f"got {item!r}")


def _index(schema: LabelSchema, label: Any, n: int) -> int:
    try:
        return schema.index_of(label)
    except ValidationError as exc:
        raise ValidationError(f"span {n}: {exc}") from None


def token_spans(
    spans: Iterable[tuple[int, int, int]], tokens: Sequence[tuple[int, int]]
) -> list[tuple[int, int, int]]:
    """Character spans ``(start, end, class)`` as token spans ``(first, last + 1, class)``.

    A span covering no token is dropped.
    """
    starts = [s for s, _ in tokens]
    ends = [e for _, e in tokens]
    out = []
    for start, end, c in spans:
        a = bisect_right(ends, start)
        b = bisect_left(starts, end)
        if a < b:
            out.append((a, b, c))
    return out


def char_spans(
    spans: Iterable[tuple[int, int, int]], tokens: Sequence[tuple[int, int]]
) -> list[tuple[int, int, int]]:
    """Token spans ``(first, last + 1, class)`` back to character offsets."""
    return [(tokens[a][0], tokens[b - 1][1], c) for a, b, c in spans]


def n_tags(k: int, scheme: Scheme) -> int:
    """Number of token tags for ``k`` classes (O included)."""
    return k + 1 if scheme == "IO" else 2 * k + 1


def spans_to_tags(
    spans: Iterable[tuple[int, int, int]], n_tokens: int, *, scheme: Scheme = "BIO",
    outside: int = 0,
) -> npt.NDArray[np.int64]:
    """Tags of ``n_tokens`` tokens from token spans ``(first, last + 1, class)``.

    Where spans overlap, the later one in the order given wins its tokens. ``outside``
    fills tokens no span covers (0 = O; -1 marks them as abstain for a labeling source).
    """
    tags = np.full(n_tokens, outside, dtype=np.int64)
    for a, b, c in spans:
        if scheme == "IO":
            tags[a:b] = c + 1
        else:
            tags[a] = 2 * c + 1
            tags[a + 1 : b] = 2 * c + 2
    return tags


def tags_to_spans(tags: Sequence[int] | npt.NDArray[Any], *, scheme: Scheme = "BIO"
                  ) -> list[tuple[int, int, int]]:
    """Token spans ``(first, last + 1, class)`` of a tag sequence (negative tags: O).

    BIO is read leniently, as conlleval does: an I tag that does not continue a span of
    its class starts one.
    """
    out: list[tuple[int, int, int]] = []
    start, cls = -1, -1
    for t, tag in enumerate(np.asarray(tags).tolist()):
        if tag <= 0:
            c, begin = -1, False
        elif scheme == "IO":
            c, begin = tag - 1, False
        else:
            c, begin = (tag - 1) // 2, tag % 2 == 1
        if cls >= 0 and (c != cls or begin):
            out.append((start, t, cls))
            cls = -1
        if c >= 0 and cls < 0:
            start, cls = t, c
    if cls >= 0:
        out.append((start, len(tags), cls))
    return out


def span_prf(pred: Sequence[Sequence[tuple[int, int, int]]],
             gold: Sequence[Sequence[tuple[int, int, int]]]) -> tuple[float, float, float]:
    """Micro precision, recall and F1 of predicted spans against gold, exact match.

    ``pred[i]`` and ``gold[i]`` are the spans ``(start, end, class)`` of item ``i``.

    Raises
    ------
    ValidationError
        If the two lists are not of the same length.
    """
    if len(pred) != len(gold):
        raise ValidationError(f"got spans of {len(pred)} items and gold of {len(gold)}")
    tp = n_pred = n_gold = 0
    for p, g in zip(pred, gold, strict=True):
        ps, gs = set(map(tuple, p)), set(map(tuple, g))
        tp += len(ps & gs)
        n_pred += len(ps)
        n_gold += len(gs)
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


__all__ = [
    "TOKEN_PATTERN",
    "Scheme",
    "char_spans",
    "n_tags",
    "overlapping",
    "parse_spans",
    "snap",
    "span_prf",
    "spans_to_tags",
    "tags_to_spans",
    "token_spans",
    "tokenize",
]
