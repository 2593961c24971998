"""Weak supervision: labeling functions, appliers, analysis and label models."""

from labelloop.weak.dawid_skene import DawidSkene
from labelloop.weak.label_model import GuardrailWarning, LabelModel
from labelloop.weak.majority import MajorityVoter

__all__ = ["DawidSkene", "GuardrailWarning", "LabelModel", "MajorityVoter"]
