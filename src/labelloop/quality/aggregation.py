"""Aggregate several annotators' labels into one label and a posterior per item.

Every aggregator reads a long table ``(item, annotator, label)``; a label matrix is read as
the same table (annotators are sources, as in :mod:`labelloop.weak`), so both views give the
same answer. Estimators follow scikit-learn: hyperparameters in ``__init__``, ``fit(table,
gold=...)`` returns ``self``, fitted state ends in ``_``; ``predict_proba(table)`` scores a
table with the fitted annotator parameters and raises ``NotFittedError`` before ``fit``.

Gold anchoring: EM starts from each annotator's confusions on gold items (where they
answered any), and items with a known answer (honeypots) are clamped to it in every E-step,
so they calibrate each annotator directly and their output is the gold label.

Tie policy: where classes are exactly tied in the posterior, the class with more votes in the
whole table wins, then the lower class index.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from labelloop.errors import ValidationError
from labelloop.quality._base import Gold, MajorityVote
from labelloop.quality.em import DawidSkene, HoneypotWeightedVote, OneCoin

__all__ = [
    "Aggregation",
    "DawidSkene",
    "HoneypotWeightedVote",
    "MajorityVote",
    "OneCoin",
    "aggregate",
]

Method = Literal["dawid_skene", "one_coin", "honeypot", "majority"]


@dataclass(frozen=True)
class Aggregation:
    """The result of :func:`aggregate`: one label and one posterior row per item."""

    items: list[Hashable]
    labels: list[Hashable]
    proba: npt.NDArray[np.float64]
    classes: list[Hashable]
    method: str
    model: Any

    def as_dict(self) -> dict[Hashable, Hashable]:
        """``{item: label}``."""
        return dict(zip(self.items, self.labels, strict=True))

    @property
    def confidence(self) -> npt.NDArray[np.float64]:
        """Posterior probability of the chosen label, per item."""
        top: npt.NDArray[np.float64] = self.proba.max(1)
        return top


_METHODS = {
    "dawid_skene": DawidSkene,
    "one_coin": OneCoin,
    "honeypot": HoneypotWeightedVote,
    "majority": MajorityVote,
}


def aggregate(
    table: object,
    *,
    method: Method = "dawid_skene",
    gold: Gold = None,
    classes: Sequence[Hashable] | None = None,
    **params: Any,
) -> Aggregation:
    """Aggregate a long annotation table into one label per item.

    Parameters
    ----------
    table:
        Long table ``(item, annotator, label)`` or a label matrix (annotators as sources).
    method:
        ``"dawid_skene"`` (default), ``"one_coin"``, ``"honeypot"`` (needs ``gold``) or
        ``"majority"``.
    gold:
        ``{item: label}`` known answers; they anchor the model and are returned as is.
    classes:
        Class order; default the sorted distinct labels.
    **params:
        Hyperparameters of the chosen estimator (e.g. ``n_iter`` for Dawid-Skene).
    """
    if method not in _METHODS:
        raise ValidationError(f"method must be one of {sorted(_METHODS)}, got {method!r}")
    try:
        model = _METHODS[method](classes=classes, **params)
    except TypeError as exc:
        raise ValidationError(f"bad parameter for method {method!r}: {exc}") from None
    model.fit(table, gold=gold)
    return Aggregation(model.items_, model.labels_, model.proba_, model.classes_, method, model)
