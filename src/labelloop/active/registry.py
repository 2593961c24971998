"""Strategies by name, and ``select`` — the one-call entry point."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy.typing as npt

from labelloop.active.base import IntArray, QueryStrategy, RandomState
from labelloop.active.diversity import CoreSet, KMeansDiversity
from labelloop.active.hybrid import ColdStart, HybridSampling
from labelloop.active.uncertainty import (
    EntropySampling,
    LeastConfidence,
    MarginSampling,
    RandomSampling,
)
from labelloop.errors import ValidationError

#: Every strategy by name; ``"hybrid"`` is the default.
STRATEGIES: dict[str, type] = {
    "random": RandomSampling,
    "least_confidence": LeastConfidence,
    "margin": MarginSampling,
    "entropy": EntropySampling,
    "kmeans": KMeansDiversity,
    "coreset": CoreSet,
    "hybrid": HybridSampling,
    "cold_start": ColdStart,
}

DEFAULT_STRATEGY = "hybrid"


def get_strategy(strategy: str | QueryStrategy, **params: Any) -> QueryStrategy:
    """Return a strategy instance from a name in ``STRATEGIES`` (with ``params``) or as is."""
    if isinstance(strategy, str):
        if strategy not in STRATEGIES:
            raise ValidationError(
                f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}"
            )
        try:
            instance: QueryStrategy = STRATEGIES[strategy](**params)
        except TypeError as exc:
            raise ValidationError(f"bad parameters for strategy {strategy!r}: {exc}") from exc
        return instance
    if params:
        raise ValidationError("parameters can only be given with a strategy name")
    if not isinstance(strategy, QueryStrategy):
        raise ValidationError(
            f"strategy must be a name or have a select() method, got {type(strategy).__name__}"
        )
    return strategy


def select(
    model_or_proba: Any,
    pool: npt.ArrayLike,
    n: int,
    *,
    strategy: str | QueryStrategy = DEFAULT_STRATEGY,
    labeled: Sequence[int] | npt.ArrayLike | None = None,
    random_state: RandomState = None,
    **params: Any,
) -> IntArray:
    """Choose the next ``n`` items to label.

    Parameters
    ----------
    model_or_proba : classifier with ``predict_proba``, array of shape (n_pool, k), or None
        The current model, or class probabilities for every pool row (a label-model or
        zero-shot posterior), or ``None`` before any model exists.
    pool : array of shape (n_pool, n_features)
        Features of all items, labeled or not (usually embeddings).
    n : int
        How many items to return.
    strategy : str or QueryStrategy, default="hybrid"
        A name in ``STRATEGIES`` or a strategy instance.
    labeled : array of int, optional
        Rows already labeled; they are never returned.
    random_state : int, Generator or None
        Seed for sampling and clustering; the same seed gives the same selection.
    **params
        Hyperparameters of the named strategy.

    Returns
    -------
    ndarray of int64, shape (n,)
        Distinct indices of unlabeled rows, best first.

    Raises
    ------
    EmptyPoolError
        If nothing is left to select from.
    ValidationError
        If the inputs are malformed or ``n`` exceeds the unlabeled items.
    """
    return get_strategy(strategy, **params).select(
        model_or_proba, pool, n, labeled=labeled, random_state=random_state
    )
