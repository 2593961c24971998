"""Weak supervision: labeling functions, appliers and analysis.

Every source -- an LF, a model's pre-label, a human, a gold answer -- is a column of one
label matrix ``L`` (-1 = abstain); a label model turns it into a posterior per item. The
label models live in :mod:`labelloop.labelmodels`; ``LabelModel``, ``DawidSkene``,
``MajorityVoter`` and ``GuardrailWarning`` are re-exported here.
"""

from labelloop.core.stats import wilson_interval
from labelloop.labelmodels import DawidSkene, GuardrailWarning, LabelModel, MajorityVoter
from labelloop.weak._runner import LFFailure
from labelloop.weak.analysis import LFAnalysis
from labelloop.weak.apply import ApplyResult, LFChunk, apply_lfs, check_lfs
from labelloop.weak.executors import Executor, LocalExecutor, ProcessExecutor
from labelloop.weak.items import Row
from labelloop.weak.lf import (
    LabelingFunction,
    ModelLabelingFunction,
    keyword_lf,
    labeling_function,
    model_lf,
    regex_lf,
)
from labelloop.weak.span_analysis import SpanLFAnalysis, span_prf
from labelloop.weak.spans import (
    SpanApplyResult,
    SpanLabelingFunction,
    apply_span_lfs,
    dictionary_span_lf,
    regex_span_lf,
    span_labeling_function,
)

__all__ = [
    "ApplyResult",
    "DawidSkene",
    "Executor",
    "GuardrailWarning",
    "LFAnalysis",
    "LFChunk",
    "LFFailure",
    "LabelModel",
    "LabelingFunction",
    "LocalExecutor",
    "MajorityVoter",
    "ModelLabelingFunction",
    "ProcessExecutor",
    "Row",
    "SpanApplyResult",
    "SpanLFAnalysis",
    "SpanLabelingFunction",
    "apply_lfs",
    "apply_span_lfs",
    "check_lfs",
    "dictionary_span_lf",
    "keyword_lf",
    "labeling_function",
    "model_lf",
    "regex_lf",
    "regex_span_lf",
    "span_labeling_function",
    "span_prf",
    "wilson_interval",
]
