"""Weak supervision on a stored project: apply LFs, analyze them, fit the label model.

The glue between ``labelloop.weak`` (pure algorithms) and ``Project`` (storage): LF votes
are stored as ``labeling_function`` sources, gold answers anchor the label model, and the
posterior is stored as a ``label_model`` source with ``needs_review`` where it is unsure.
"""

from __future__ import annotations

import importlib.util
import sys
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from labelloop.core.matrix import ABSTAIN
from labelloop.core.records import AnnotationRecord
from labelloop.errors import NotFoundError, ValidationError
from labelloop.labelmodels import Metric as Metric
from labelloop.labelmodels import make_label_model, resolve_name
from labelloop.services.project import Project
from labelloop.storage.store import Failure
from labelloop.weak import ApplyResult, LabelingFunction, LFAnalysis, apply_lfs

ModelName = str
"""A name of :data:`labelloop.labelmodels.LABEL_MODELS` (or an alias)."""
VOTING_KINDS = ("labeling_function", "model", "human")


def load_lfs(path: str | Path) -> list[Any]:
    """Import a Python file and return its labeling functions.

    A module-level list named ``lfs`` or ``LFS`` wins; otherwise every module-level
    ``LabelingFunction`` (or Snorkel LF: any callable with a ``name`` and ``__call__``
    defined by a class named ``LabelingFunction``) in definition order.
    """
    p = Path(path)
    if not p.is_file():
        raise NotFoundError(f"LF file {str(p)!r} does not exist")
    mod_name = f"_labelloop_lfs_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(mod_name, p)
    if spec is None or spec.loader is None:
        raise ValidationError(f"{p}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module  # lets dataclasses and pickling inside the file work
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise ValidationError(f"{p}, line {exc.lineno}: syntax error ({exc.msg})") from None
    except Exception as exc:
        raise ValidationError(f"{p}: importing it raised {type(exc).__name__}: {exc}") from None
    for attr in ("lfs", "LFS"):
        if isinstance(getattr(module, attr, None), list | tuple):
            found = list(getattr(module, attr))
            break
    else:
        found = [
            v
            for v in vars(module).values()
            if isinstance(v, LabelingFunction) or type(v).__name__ == "LabelingFunction"
        ]
    if not found:
        raise ValidationError(
            f"{p} defines no labeling functions: decorate functions with "
            "@labeling_function() or list them in a module-level `lfs`"
        )
    return found


def apply_to_project(
    project: Project,
    lfs: list[Any],
    *,
    split: str | None = None,
    executor: Literal["local", "processes"] = "local",
    n_jobs: int | None = None,
    timeout: float | None = None,
    version: str = "",
) -> ApplyResult:
    """Apply ``lfs`` to the project's items and store each LF's votes as a source.

    Failures are stored too (stage ``labeling_function``) and returned in the result; a
    vote outside the project's classes is one of them (``invalid``), and its vote dropped.
    """
    items = project.items(split=split)
    if not items:
        raise ValidationError(
            "the project has no items" + (f" in split {split!r}" if split else "")
        )
    # a vote outside the schema's classes is a failure of that LF on that item, like any bad
    # return value: the run goes on
    res = apply_lfs(
        lfs,
        [dict(it.data) for it in items],
        executor=executor,
        n_jobs=n_jobs,
        timeout=timeout,
        k=project.schema.k,
    )
    sources = [project.source("labeling_function", name, version) for name in res.lf_names]
    source_ids = [_source_id(s) for s in sources]
    item_ids = [int(it.id) if it.id is not None else -1 for it in items]
    rows, cols = np.nonzero(res.L != ABSTAIN)
    # an LF applied again replaces its votes on these items: where it now abstains, the old
    # vote goes
    project.replace_annotations(
        source_ids,
        item_ids,
        [
            AnnotationRecord(item_id=item_ids[i], source_id=source_ids[j], label=int(res.L[i, j]))
            for i, j in zip(rows.tolist(), cols.tolist(), strict=True)
        ],
    )
    by_name = dict(zip(res.lf_names, source_ids, strict=True))
    if res.failures:
        project.record_failures(
            [
                Failure(
                    item_ids[f.item], by_name[f.lf], "labeling_function", f"{f.kind}: {f.error}"
                )
                for f in res.failures
            ]
        )
    return res


def _source_id(source: Any) -> int:
    if source.id is None:  # stored sources always have an id
        raise ValidationError(f"source {source.name!r} has no id; was it stored?")
    return int(source.id)


def gold_labels(project: Project, item_ids: list[Any]) -> npt.NDArray[np.int64] | None:
    """The gold class per item (-1 where none), or None when the project has no gold."""
    gold = project.label_matrix(kinds=["gold"], item_ids=item_ids)
    if gold.L.shape[1] == 0 or (gold.L == ABSTAIN).all():
        return None
    y = np.full(gold.L.shape[0], ABSTAIN, dtype=np.int64)
    for col in gold.L.T[::-1]:  # the first gold source wins
        y[col != ABSTAIN] = col[col != ABSTAIN]
    return y


def analyze_project(project: Project, *, plot: str | Path | None = None) -> Any:
    """``LFAnalysis.summary`` of the stored LF votes (with gold accuracy where gold exists).

    With ``plot``, also saves the coverage-vs-accuracy PNG there.
    """
    lm = project.label_matrix(kinds=["labeling_function"])
    if lm.L.shape[1] == 0:
        raise ValidationError("no labeling-function votes stored: run `labelloop lf apply` first")
    sources = project.sources(kinds=["labeling_function"])
    names: dict[Any, str] = {s.id: s.name for s in sources}
    analysis = LFAnalysis(lm.L, [names[s] for s in lm.source_ids])
    y = gold_labels(project, lm.item_ids)
    if plot is not None:
        analysis.plot(plot, Y=y)
    return analysis.summary(y)


@dataclass
class FitReport:
    """What ``fit_label_model`` did."""

    n_items: int
    sources: list[str]
    class_balance: list[float]
    n_needs_review: int
    n_gold: int
    guardrail: dict[str, Any] | None = None
    fallback: bool = False
    warnings: list[str] = field(default_factory=list)
    model: str = ""
    """The model that produced the posterior (with ``"auto"``: the one it chose)."""
    threshold: float | None = None
    """Decision threshold on the second class's probability, when one was chosen."""
    rule: str = ""
    """How ``"auto"`` chose, in words."""


def fit_label_model(
    project: Project,
    *,
    model: ModelName = "auto",
    metric: Metric = "accuracy",
    kinds: tuple[str, ...] = VOTING_KINDS,
    review_below: float = 0.7,
    name: str = "label_model",
) -> FitReport:
    """Fit a label model over the stored sources and store its posterior.

    Every source of ``kinds`` is a column; gold answers anchor the model. ``model`` is a name
    of :data:`labelloop.labelmodels.LABEL_MODELS` (``"honeypot"`` needs gold); the default
    ``"auto"`` chooses the model (and for binary F1 a threshold) by cross-validation on the
    gold items, or without gold by a rule that falls back to majority vote
    (:class:`labelloop.labelmodels.AutoLabelModel`), maximising ``metric``: ``"accuracy"``,
    ``"f1"`` (binary F1 of the second class) or ``"f1_macro"``. The posterior is stored as the
    ``label_model`` source ``name``: label, confidence, probabilities, and ``needs_review``
    where the confidence is below ``review_below``.
    """
    bad = sorted(set(kinds) - set(VOTING_KINDS))
    if bad:
        raise ValidationError(f"unknown source kinds {bad}; choose from {', '.join(VOTING_KINDS)}")
    if not 0.0 <= review_below <= 1.0:
        raise ValidationError(f"review_below must be between 0 and 1, got {review_below}")
    canonical = resolve_name(model)  # a bad name fails before anything is read
    lm = project.label_matrix(kinds=list(kinds))
    if lm.L.shape[1] == 0 or (lm.L == ABSTAIN).all():
        raise ValidationError(
            f"no votes from sources of kind {', '.join(kinds)}: apply LFs or add labels first"
        )
    k = project.schema.k
    y = gold_labels(project, lm.item_ids)
    params: dict[str, Any] = {"metric": metric} if canonical == "auto" else {}
    estimator: Any = make_label_model(canonical, k, **params)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        estimator.fit(lm.L, y)
    P = estimator.predict_proba(lm.L)
    pred = estimator.predict(lm.L)
    conf = P[np.arange(len(pred)), np.maximum(pred, 0)]
    source = project.source("label_model", name, canonical)
    review = (conf < review_below) | (pred == ABSTAIN)
    source_id = _source_id(source)
    project.add_annotations(
        [
            AnnotationRecord(
                item_id=int(item_id),  # type: ignore[call-overload]
                source_id=source_id,
                label=int(pred[i]) if pred[i] != ABSTAIN else None,
                confidence=float(np.clip(conf[i], 0.0, 1.0)),
                probs=[float(v) for v in P[i]],
                needs_review=bool(review[i]),
            )
            for i, item_id in enumerate(lm.item_ids)
        ]
    )
    names: dict[Any, str] = {s.id: s.name for s in project.sources(kinds=list(kinds))}
    return FitReport(
        n_items=len(lm.item_ids),
        sources=[names[s] for s in lm.source_ids],
        class_balance=[float(v) for v in getattr(estimator, "class_balance_", np.full(k, 1 / k))],
        n_needs_review=int(review.sum()),
        n_gold=0 if y is None else int((y != ABSTAIN).sum()),
        guardrail=getattr(estimator, "guardrail_", None),
        fallback=bool(getattr(estimator, "fallback_", False)),
        warnings=[str(w.message) for w in caught],
        model=str(getattr(estimator, "chosen_", canonical)),
        threshold=getattr(estimator, "threshold_", None),
        rule=str(getattr(estimator, "rule_", "")),
    )
