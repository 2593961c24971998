"""Aggregate several annotators' labels into one label and a posterior per item.

:func:`aggregate` is a thin wrapper over :mod:`labelloop.labelmodels`: the long table
``(item, annotator, label)`` is read as the label matrix it stands for (items are rows,
annotators are columns, an absent row is "not asked"), gold ``{item: label}`` becomes ``y``,
and the model chosen by name is fitted and read back with gold clamped. Every tie follows the
family's rule (SHA-1 of the item's row index; see :mod:`labelloop.labelmodels`).

The estimators are the family's: ``DawidSkene``, ``OneCoin``, ``HoneypotWeightedVote`` and
``MajorityVote`` (an alias of :class:`~labelloop.labelmodels.MajorityVoter`), all with
``fit(L, y)``; pass ``as_long_table(table)`` as ``L`` to fit one on a long table.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from labelloop.core.longtable import as_long_table, encode_gold
from labelloop.errors import ValidationError
from labelloop.labelmodels import (
    DawidSkene,
    HoneypotWeightedVote,
    MajorityVoter,
    OneCoin,
    break_ties,
    make_label_model,
    resolve_name,
)

__all__ = [
    "Aggregation",
    "DawidSkene",
    "HoneypotWeightedVote",
    "MajorityVote",
    "OneCoin",
    "aggregate",
]

MajorityVote = MajorityVoter
"""The name ``labelloop.quality`` has always used for :class:`MajorityVoter`."""

Gold = Mapping[Any, Any] | None
Method = Literal[
    "auto",
    "dawid_skene", "dawid-skene", "one_coin", "one-coin", "honeypot", "majority", "label-model"
]


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


def aggregate(
    table: object,
    *,
    method: Method = "auto",
    gold: Gold = None,
    classes: Sequence[Hashable] | None = None,
    **params: Any,
) -> Aggregation:
    """Aggregate a long annotation table into one label per item.

    Parameters
    ----------
    table:
        Long table ``(item, annotator, label)`` or a label matrix (annotators as sources);
        see :func:`~labelloop.core.longtable.as_long_table`.
    method:
        A label model of :data:`~labelloop.labelmodels.LABEL_MODELS`: ``"auto"`` (default:
        chosen by cross-validation on ``gold`` when there are at least 20 gold items, else
        Dawid-Skene for crowd answers with a fall-back to majority vote, see
        :class:`~labelloop.labelmodels.AutoLabelModel`), ``"dawid_skene"``
        (``"dawid-skene"``), ``"one_coin"`` (``"one-coin"``), ``"honeypot"`` (needs
        ``gold``), ``"majority"`` or ``"label-model"``.
    gold:
        ``{item: label}`` known answers; they anchor the model and are returned as is.
    classes:
        Class order; default the sorted distinct labels.
    **params:
        Hyperparameters of the chosen model (e.g. ``n_iter``, ``tie_break``). Dawid-Skene
        runs with ``abstain="missing"`` unless given: an annotator who did not label an item
        was not asked.
    """
    name = resolve_name(method)
    t = as_long_table(table, classes=classes)
    if len(t) == 0:
        raise ValidationError("cannot aggregate an empty annotation table")
    y = encode_gold(gold, t)
    if name == "dawid-skene":
        params.setdefault("abstain", "missing")
    # the family needs two classes: a table where everyone gave one label gets a phantom
    # second class, dropped from the result
    model = make_label_model(name, max(t.n_classes, 2), **params)
    model.fit(t, y)
    proba = model.predict_proba(t, y)[:, : t.n_classes]
    proba /= proba.sum(axis=1, keepdims=True)
    # the model's own decision rule (a threshold chosen by "auto", or the tie rule)
    pred = model.predict(t, y) if t.n_classes >= 2 else break_ties(proba, model.tie_break)
    labels = [t.classes[c] for c in pred]
    return Aggregation(list(t.items), labels, proba, list(t.classes), method, model)
