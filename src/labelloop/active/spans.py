"""Item-level uncertainty for span (NER) items, from token posteriors.

The span label model gives a posterior over tags for every token of every item
(``(sum(lengths), n_tags)``). An item is as uncertain as its most uncertain token: one
doubtful token is one doubtful span, and a person has to read the whole item to settle it.
:func:`item_token_proba` reduces the token posteriors to one row per item, the posterior
of that token, so every strategy of :data:`~labelloop.active.STRATEGIES` (margin, entropy,
least confidence, and the hybrid with diversity over sentence embeddings) works on span
items unchanged: a strategy's score of that row *is* the item's score.

Examples
--------
>>> import numpy as np
>>> P = np.array([[1.0, 0.0], [0.6, 0.4], [0.9, 0.1]])  # 3 tokens: items of 2 and 1
>>> item_token_proba(P, [2, 1]).tolist()
[[0.6, 0.4], [0.9, 0.1]]
>>> span_item_uncertainty(P, [2, 1], score="margin").round(2).tolist()
[0.8, 0.2]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from labelloop.active.base import FloatArray
from labelloop.active.uncertainty import entropy, least_confidence, margin
from labelloop.errors import ValidationError

TokenScore = Literal["least_confidence", "margin", "entropy"]
_SCORES = {"least_confidence": least_confidence, "margin": margin, "entropy": entropy}


def _check(P: FloatArray, lengths: Sequence[int], score: str) -> None:
    if score not in _SCORES:
        raise ValidationError(f"score must be one of {sorted(_SCORES)}, got {score!r}")
    if P.ndim != 2 or P.shape[0] != int(sum(lengths)):
        raise ValidationError(f"token posteriors of shape {P.shape} do not fit items of "
                              f"{int(sum(lengths))} tokens in all")


def item_token_proba(P: FloatArray, lengths: Sequence[int], *,
                     score: TokenScore = "least_confidence") -> FloatArray:
    """The posterior row of each item's most uncertain token, ``(n_items, n_tags)``.

    Items without tokens get a sure O row (``[1, 0, ...]``).

    Raises
    ------
    ValidationError
        If ``P`` does not have one row per token or ``score`` is unknown.
    """
    P = np.asarray(P, dtype=np.float64)
    _check(P, lengths, score)
    out = np.zeros((len(lengths), P.shape[1]))
    out[:, 0] = 1.0
    if not P.shape[0]:
        return out
    token_scores = _SCORES[score](P)
    off = 0
    for i, n in enumerate(lengths):
        if n:
            out[i] = P[off + int(np.argmax(token_scores[off:off + n]))]
        off += n
    return out


def span_item_uncertainty(P: FloatArray, lengths: Sequence[int], *,
                          score: TokenScore = "least_confidence") -> FloatArray:
    """Uncertainty of each item: its most uncertain token's ``score`` (0: sure).

    Raises
    ------
    ValidationError
        If ``P`` does not have one row per token or ``score`` is unknown.
    """
    rows = item_token_proba(P, lengths, score=score)
    out: FloatArray = _SCORES[score](rows)
    return out


__all__ = ["TokenScore", "item_token_proba", "span_item_uncertainty"]
