"""Active learning: choose what humans label next, and know when to stop.

::

    from labelloop.active import select, should_stop, simulate, STRATEGIES

    idx = select(model, embeddings, 20, labeled=done, random_state=0)   # default "hybrid"

Strategies (``STRATEGIES``): ``random``, ``least_confidence``, ``margin``, ``entropy``,
``kmeans`` (diversity), ``coreset`` (k-center greedy), ``hybrid`` (uncertainty-weighted
k-means over the most uncertain items; the default) and ``cold_start`` (first batch from a
zero-shot or label-model posterior). All take a batch size, never build an ``n x n``
matrix and score the pool in chunks, so they run on 1M-item pools.
"""

from labelloop.active.base import QueryStrategy
from labelloop.active.diversity import CoreSet, KMeansDiversity
from labelloop.active.hybrid import ColdStart, HybridSampling
from labelloop.active.registry import DEFAULT_STRATEGY, STRATEGIES, get_strategy, select
from labelloop.active.simulation import CurvePoint, SimulationResult, simulate
from labelloop.active.stopping import StopDecision, should_stop
from labelloop.active.uncertainty import (
    EntropySampling,
    LeastConfidence,
    MarginSampling,
    RandomSampling,
    entropy,
    least_confidence,
    margin,
)

__all__ = [
    "DEFAULT_STRATEGY",
    "STRATEGIES",
    "ColdStart",
    "CoreSet",
    "CurvePoint",
    "EntropySampling",
    "HybridSampling",
    "KMeansDiversity",
    "LeastConfidence",
    "MarginSampling",
    "QueryStrategy",
    "RandomSampling",
    "SimulationResult",
    "StopDecision",
    "entropy",
    "get_strategy",
    "least_confidence",
    "margin",
    "select",
    "should_stop",
    "simulate",
]
