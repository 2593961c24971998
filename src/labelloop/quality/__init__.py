"""Quality control: agreement metrics, honeypots, aggregation, scorecards, automated checks."""

from labelloop.quality.aggregation import (
    Aggregation,
    DawidSkene,
    HoneypotWeightedVote,
    MajorityVote,
    OneCoin,
    aggregate,
)
from labelloop.quality.agreement import (
    ConfidenceInterval,
    bootstrap_ci,
    cohen_kappa,
    fleiss_kappa,
    per_class_agreement,
    percent_agreement,
)
from labelloop.quality.krippendorff import krippendorff_alpha
from labelloop.quality.table import LongTable, as_long_table

__all__ = [
    "Aggregation",
    "ConfidenceInterval",
    "DawidSkene",
    "HoneypotWeightedVote",
    "LongTable",
    "MajorityVote",
    "OneCoin",
    "aggregate",
    "as_long_table",
    "bootstrap_ci",
    "cohen_kappa",
    "fleiss_kappa",
    "krippendorff_alpha",
    "per_class_agreement",
    "percent_agreement",
]
