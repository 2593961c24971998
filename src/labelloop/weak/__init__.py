"""Weak supervision: labeling functions, appliers, analysis and label models.

Every source -- an LF, a model's pre-label, a human, a gold answer -- is a column of one
label matrix ``L`` (-1 = abstain); a label model turns it into a posterior per item.
"""

from labelloop.weak._runner import LFFailure
from labelloop.weak.analysis import LFAnalysis, wilson_interval
from labelloop.weak.apply import ApplyResult, apply_lfs
from labelloop.weak.dawid_skene import DawidSkene
from labelloop.weak.executors import Executor, LocalExecutor, ProcessExecutor
from labelloop.weak.items import Row
from labelloop.weak.label_model import GuardrailWarning, LabelModel
from labelloop.weak.lf import (
    LabelingFunction,
    ModelLabelingFunction,
    keyword_lf,
    labeling_function,
    model_lf,
    regex_lf,
)
from labelloop.weak.majority import MajorityVoter

__all__ = [
    "ApplyResult",
    "DawidSkene",
    "Executor",
    "GuardrailWarning",
    "LFAnalysis",
    "LFFailure",
    "LabelModel",
    "LabelingFunction",
    "LocalExecutor",
    "MajorityVoter",
    "ModelLabelingFunction",
    "ProcessExecutor",
    "Row",
    "apply_lfs",
    "keyword_lf",
    "labeling_function",
    "model_lf",
    "regex_lf",
    "wilson_interval",
]
