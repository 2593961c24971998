"""The label-model family: one set of estimators over the label matrix for every path.

Labeling functions (``labelloop.weak``, ``services.weak.fit_label_model``), crowd aggregation
(``labelloop.quality.aggregate``) and the annotation loop all use these models.

Models (registry names in :data:`LABEL_MODELS`, built by :func:`make_label_model`):

``"auto"`` :class:`AutoLabelModel`
    The default everywhere: chooses one of the models below (and, for binary F1, a decision
    threshold) by cross-validation on gold, or by a label-free rule with a guard against
    majority vote when there is no gold (:mod:`labelloop.labelmodels.selection`).

``"majority"`` :class:`MajorityVoter`
    Vote shares.
``"dawid-skene"`` :class:`DawidSkene` (alias ``"dawid_skene"``)
    A confusion matrix per source, EM, class-wise shrinkage. ``abstain="evidence"`` (default)
    models -1 as an outcome (labeling functions, including one-class ones);
    ``abstain="missing"`` reads it as "not asked" (crowd data; ``aggregate`` uses it).
``"one-coin"`` :class:`OneCoin` (alias ``"one_coin"``)
    One accuracy per source, EM.
``"honeypot"`` :class:`HoneypotWeightedVote`
    One accuracy per source from its gold answers; needs gold ``y``.
``"label-model"`` :class:`LabelModel`
    Anchored naive-Bayes EM over source precisions with a guardrail against majority vote
    (:class:`GuardrailWarning`); the label-free choice for labeling functions.

The contract (tested for every registered model in ``tests/contract/test_label_models.py``):

* hyperparameters in ``__init__`` (``n_classes`` first, the rest keyword-only), fitted state
  ends in ``_``;
* ``fit(L, y=None)`` returns ``self``. ``L`` is ``(n, m)``: rows are items, columns sources,
  classes ``0..k-1``, ``-1`` = abstain; dense, SciPy sparse (storing ``label + 1``, 0 =
  abstain), or a :class:`~labelloop.core.longtable.LongTable` (the long form of the same
  matrix, items x annotators; no cell is made dense). ``y`` is the gold class per row, -1
  where unknown; the EM models clamp gold rows to their class in every step;
* ``predict_proba(L, y=None)`` -> ``(n, k)`` rows summing to 1; an all-abstain row gets a
  valid distribution (the class balance, or uniform). With ``y``, gold rows get probability 1
  on their class. ``predict(L, y=None)`` -> int array;
* both raise :class:`~labelloop.errors.NotFittedError` before ``fit`` and
  :class:`~labelloop.errors.ValidationError` for bad input;
* a model's posterior does not depend on the order of the columns (sources).

For spans, :class:`SpanLabelModel` (:mod:`labelloop.labelmodels.spans`) runs one of these
models over a token matrix of IO/BIO tags (``"dawid-skene"``, or ``"majority"`` as the
baseline) and decodes span-consistent tags; it takes token spans per item and source, not
``L``, so it is not in :data:`LABEL_MODELS`.

Tie rule (one for all models): classes whose probabilities differ by less than ``1e-5`` are
tied. ``tie_break="random"`` (default) picks among the tied classes by the SHA-1 of the row
index, exactly as Snorkel's ``probs_to_preds(tie_break_policy="random")`` and WRENCH do, so it
is deterministic and published WRENCH numbers reproduce; ``"lowest"`` takes the lowest tied
class; ``"abstain"`` predicts -1. Rows where every source abstains are ties like any other.
"""

from labelloop.labelmodels._base import (
    BaseLabelModel,
    Metric,
    TieBreak,
    break_ties,
    check_targets,
    score_predictions,
    softmax_rows,
)
from labelloop.labelmodels._votes import to_dense
from labelloop.labelmodels.confusion import DawidSkene, HoneypotWeightedVote, OneCoin
from labelloop.labelmodels.label_model import GuardrailWarning, LabelModel
from labelloop.labelmodels.majority import MajorityVoter
from labelloop.labelmodels.registry import (
    ALIASES,
    LABEL_MODELS,
    make_label_model,
    resolve_name,
)
from labelloop.labelmodels.selection import AutoLabelModel
from labelloop.labelmodels.spans import SpanLabelModel

__all__ = [
    "ALIASES",
    "LABEL_MODELS",
    "AutoLabelModel",
    "BaseLabelModel",
    "DawidSkene",
    "GuardrailWarning",
    "HoneypotWeightedVote",
    "LabelModel",
    "MajorityVoter",
    "Metric",
    "OneCoin",
    "SpanLabelModel",
    "TieBreak",
    "break_ties",
    "check_targets",
    "make_label_model",
    "resolve_name",
    "score_predictions",
    "softmax_rows",
    "to_dense",
]
