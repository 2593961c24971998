"""Quality control: agreement metrics, honeypots, aggregation, scorecards, automated checks.

Everything here reads the long annotation table ``(item, annotator, label)``
(see :func:`as_long_table`, from :mod:`labelloop.core.longtable`); a label matrix is read as the
same table. Aggregation is the label-model family of :mod:`labelloop.labelmodels`.
"""

from labelloop.core.longtable import LongTable, as_long_table
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
from labelloop.quality.boxes import BoxAgreement, box_agreement, box_iou
from labelloop.quality.checks import (
    Flag,
    find_label_drift,
    find_label_issues,
    find_model_disagreements,
    find_spammers,
)
from labelloop.quality.honeypots import (
    HoneypotAccuracy,
    PauseDecision,
    honeypot_accuracy,
    honeypot_feedback,
    pause_decision,
    wilson_interval,
)
from labelloop.quality.krippendorff import krippendorff_alpha
from labelloop.quality.scorecards import Scorecard, scorecards
from labelloop.quality.spans import SpanAgreement, span_agreement, span_token_kappa

__all__ = [
    "Aggregation",
    "BoxAgreement",
    "ConfidenceInterval",
    "DawidSkene",
    "Flag",
    "HoneypotAccuracy",
    "HoneypotWeightedVote",
    "LongTable",
    "MajorityVote",
    "OneCoin",
    "PauseDecision",
    "Scorecard",
    "SpanAgreement",
    "aggregate",
    "as_long_table",
    "bootstrap_ci",
    "box_agreement",
    "box_iou",
    "cohen_kappa",
    "find_label_drift",
    "find_label_issues",
    "find_model_disagreements",
    "find_spammers",
    "fleiss_kappa",
    "honeypot_accuracy",
    "honeypot_feedback",
    "krippendorff_alpha",
    "pause_decision",
    "per_class_agreement",
    "percent_agreement",
    "scorecards",
    "span_agreement",
    "span_token_kappa",
    "wilson_interval",
]
