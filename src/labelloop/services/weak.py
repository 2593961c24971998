"""Weak supervision on a stored project: apply LFs, analyze them, fit the label model.

The glue between ``labelloop.weak`` (pure algorithms) and ``Project`` (storage): LF votes
are stored as ``labeling_function`` sources, gold answers anchor the label model, and the
posterior is stored as a ``label_model`` source with ``needs_review`` where it is unsure.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
import uuid
import warnings
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from labelloop.core.matrix import ABSTAIN, compact_dtype
from labelloop.errors import NotFoundError, ValidationError
from labelloop.exec import ExecutorSpec, LocalExecutor, executor_for
from labelloop.labelmodels import Metric as Metric
from labelloop.labelmodels import make_label_model, resolve_name
from labelloop.services.jobs import Progress, run_chunked_job
from labelloop.services.project import Project
from labelloop.storage.store import Failure
from labelloop.weak import (
    ApplyResult,
    LabelingFunction,
    LFAnalysis,
    LFChunk,
    LFFailure,
    check_lfs,
)

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
    if importlib.util.find_spec("cloudpickle") is not None:  # Dask workers lack this module:
        import cloudpickle  # send its LFs by value

        cloudpickle.register_pickle_by_value(module)
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
            or (callable(getattr(v, "apply_batch", None)) and isinstance(
                getattr(v, "name", None), str) and not isinstance(v, type))  # llm_lf
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
    executor: ExecutorSpec = "local",
    n_jobs: int | None = None,
    timeout: float | None = None,
    version: str = "",
    chunk_size: int | None = None,
    progress: Progress | None = None,
) -> ApplyResult:
    """Apply ``lfs`` to the project's items and store each LF's votes as a source.

    Items are read, labelled and stored chunk by chunk: each finished chunk's votes replace
    the LFs' earlier votes on its items, and its failures (stage ``labeling_function``; a
    vote outside the project's classes is one, ``invalid``, and its vote dropped) are
    recorded with the chunk in the store. An interrupted run (Ctrl-C, a crash) applied
    again with the same LFs, items and chunk size skips the chunks it stored. LLM labeling
    functions (:func:`labelloop.prelabel.llm.llm_lf`) keep their answers in the store when
    run locally (asked again, they send no request) and each records its run's requests,
    tokens and cost.

    Parameters
    ----------
    executor:
        ``"local"``, ``"processes"`` (each chunk over a confined process pool of
        ``n_jobs`` workers), ``"dask"`` (a ``LocalCluster`` of ``n_jobs`` workers), a
        scheduler address ``"tcp://HOST:PORT"`` or a :class:`labelloop.exec.Executor`.
    timeout:
        Seconds one LF may spend on one item; needs ``"local"`` or ``"processes"``.
    chunk_size:
        Items per stored chunk (default 5,000).
    progress:
        Called with (chunks done, chunks in all) after each stored chunk.

    Returns
    -------
    ApplyResult
        Votes of every item (those of skipped chunks read back from the store) and the
        failures of the chunks computed in this run.
    """
    k = project.schema.k
    lf_list, names = check_lfs(lfs, timeout=timeout, k=k)
    item_ids = project.store.job_item_ids(project.id, split=split)
    if not item_ids:
        raise ValidationError(
            "the project has no items" + (f" in split {split!r}" if split else "")
        )
    sources = [project.source("labeling_function", name, version) for name in names]
    source_ids = [_source_id(s) for s in sources]
    fn = LFChunk(lf_list, names, True, timeout, 3, k)
    spec: ExecutorSpec = executor
    if executor == "processes":  # each chunk over the confined LF pool
        fn.inner, fn.n_jobs = "processes", n_jobs
        spec = LocalExecutor()
    if timeout is not None and spec not in (None, "local") and not isinstance(
            spec, LocalExecutor):  # checked before a cluster is started
        name = spec if isinstance(spec, str) else spec.name
        raise ValidationError(f"timeout needs executor 'local' or 'processes', not {name!r}")
    n = len(item_ids)
    L = np.full((n, len(names)), ABSTAIN, dtype=compact_dtype(k))
    failures: list[LFFailure] = []
    by_name = dict(zip(names, source_ids, strict=True))

    def read(ids: Sequence[int]) -> tuple[int, list[dict[str, Any]]]:
        return 0, project.store.item_data(project.id, ids)

    def write(a: int, ids: Sequence[int], result: Any) -> list[Failure]:
        votes, fails = result
        L[a : a + len(ids)] = votes
        # an LF applied again replaces its votes on these items: where it now abstains,
        # the old vote goes
        project.store.replace_votes(project.id, source_ids, list(ids), votes)
        failures.extend(LFFailure(f.item + a, f.lf, f.kind, f.error) for f in fails)
        return [
            Failure(ids[f.item], by_name[f.lf], "labeling_function", f"{f.kind}: {f.error}")
            for f in fails
        ]

    from labelloop.services.llm import recorded_run, use_store_cache

    local = fn.inner == "local" and (spec in (None, "local") or isinstance(spec, LocalExecutor))
    asks_llm = use_store_cache(project, lf_list) if local else []  # cached in the store
    with ExitStack() as stack:
        for lf in asks_llm:
            stack.enter_context(recorded_run(project, lf.client, kind="lf", name=lf.name))
        runner = stack.enter_context(executor_for(spec, n_workers=n_jobs))
        report = run_chunked_job(
            project,
            kind="lf_apply",
            fingerprint=[names, version, [_fingerprint(lf) for lf in lf_list], split, timeout],
            item_ids=item_ids,
            executor=runner,
            fn=fn,
            read=read,
            write=write,
            chunk_size=chunk_size,
            progress=progress,
        )
    if report.skipped:
        _read_back(project, L, item_ids, source_ids, [report.bounds[c] for c in report.skipped])
    order = {name: j for j, name in enumerate(names)}
    failures.sort(key=lambda f: (f.item, order[f.lf]))
    return ApplyResult(L, names, failures)


def _fingerprint(lf: Any) -> str:
    """The source code of an LF where Python has it (an edited LF is a new job), else its repr."""
    for obj in (getattr(lf, "f", None), lf):
        if obj is None:
            continue
        try:
            return inspect.getsource(obj)
        except (OSError, TypeError):
            continue
    return repr(lf)


def _read_back(
    project: Project, L: Any, item_ids: list[int], source_ids: list[int],
    bounds: list[tuple[int, int]],
) -> None:
    """Fill the rows of chunks an earlier run stored from the store's votes."""
    rows = np.concatenate([np.arange(a, b) for a, b in bounds])
    stored = project.store.label_matrix(
        project.id, kinds=["labeling_function"], item_ids=[item_ids[r] for r in rows],
        all_versions=True,
    )
    col = {sid: j for j, sid in enumerate(stored.source_ids)}
    for j, sid in enumerate(source_ids):
        if sid in col:
            L[rows, j] = stored.L[:, col[sid]]


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


SPARSE_CELLS = 2_000_000
"""Label matrices with at least this many cells are read sparse (when SciPy is installed)."""


def _votes(project: Project, kinds: list[str]) -> Any:
    """The label matrix of ``kinds``: SciPy sparse for large projects, else dense."""
    n_sources = len({(s.kind, s.name) for s in project.sources(kinds=kinds)})
    big = project.store.count_items(project.id) * n_sources >= SPARSE_CELLS
    sparse = big and importlib.util.find_spec("scipy") is not None
    return project.store.label_matrix(project.id, kinds=kinds, sparse=sparse)


def _no_votes(L: Any) -> bool:
    return bool(L.shape[1] == 0 or (L.nnz == 0 if hasattr(L, "nnz") else (L == ABSTAIN).all()))


def analyze_project(project: Project, *, plot: str | Path | None = None) -> Any:
    """``LFAnalysis.summary`` of the stored LF votes (with gold accuracy where gold exists).

    With ``plot``, also saves the coverage-vs-accuracy PNG there. Large projects are read
    as a sparse matrix and analysed in blocks (bounded memory). A spans project gets
    :func:`labelloop.services.span_weak.analyze_span_project` (no plot).
    """
    if project.schema.task_type.has_spans:
        from labelloop.services.span_weak import analyze_span_project

        return analyze_span_project(project)
    lm = _votes(project, ["labeling_function"])
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
    lm = _votes(project, list(kinds))
    if _no_votes(lm.L):
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
    project.store.upsert_posterior(project.id, _source_id(source), lm.item_ids, pred, conf, P,
                                   review)
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
