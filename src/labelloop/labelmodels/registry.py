"""Label models by name: one registry for the weak-supervision and the crowd paths."""

from __future__ import annotations

from typing import Any

from labelloop.errors import ValidationError
from labelloop.labelmodels._base import BaseLabelModel
from labelloop.labelmodels.confusion import DawidSkene, HoneypotWeightedVote, OneCoin
from labelloop.labelmodels.label_model import LabelModel
from labelloop.labelmodels.majority import MajorityVoter
from labelloop.labelmodels.selection import AutoLabelModel

LABEL_MODELS: dict[str, type[BaseLabelModel]] = {
    "auto": AutoLabelModel,
    "majority": MajorityVoter,
    "dawid-skene": DawidSkene,
    "one-coin": OneCoin,
    "honeypot": HoneypotWeightedVote,
    "label-model": LabelModel,
}
"""Every label model by its canonical name."""

ALIASES: dict[str, str] = {"dawid_skene": "dawid-skene", "one_coin": "one-coin"}
"""Older spellings (``quality.aggregate``'s) and the canonical name they stand for."""


def resolve_name(name: str) -> str:
    """The canonical registry name of ``name`` (an alias is accepted).

    Raises
    ------
    ValidationError
        If ``name`` is neither a registered name nor an alias; the message lists them.
    """
    canonical = ALIASES.get(name, name)
    if canonical not in LABEL_MODELS:
        valid = ", ".join([*LABEL_MODELS, *ALIASES])
        raise ValidationError(f"unknown label model {name!r}; choose one of: {valid}")
    return canonical


def make_label_model(name: str, n_classes: int | None = None, **params: Any) -> BaseLabelModel:
    """Build (unfitted) the label model registered as ``name``.

    Parameters
    ----------
    name:
        A key of :data:`LABEL_MODELS` or of :data:`ALIASES`.
    n_classes:
        Number of classes; inferred at ``fit`` when ``None``.
    **params:
        Hyperparameters of that model (e.g. ``n_iter``, ``tie_break``).

    Raises
    ------
    ValidationError
        For an unknown name or a parameter the model does not take.
    """
    cls = LABEL_MODELS[resolve_name(name)]
    try:
        return cls(n_classes, **params)  # type: ignore[call-arg]
    except TypeError as exc:
        raise ValidationError(f"bad parameter for label model {name!r}: {exc}") from None
