"""Span labeling functions on a stored ``spans`` project: apply them, analyze them.

Each span LF is a ``labeling_function`` source; its answer on an item is the list of spans
it found there (an empty list when it found none, so an LF that looked is told apart from
one that did not run). Failures are recorded with the project's failures (stage
``labeling_function``), one per LF and item.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from labelloop.core.records import AnnotationRecord, Span
from labelloop.core.spans import Scheme, char_spans, token_spans, tokenize
from labelloop.errors import ValidationError
from labelloop.exec import ExecutorSpec
from labelloop.labelmodels.spans import Decode, Silence, SpanLabelModel
from labelloop.services.project import Project
from labelloop.storage.store import Failure
from labelloop.weak.span_analysis import SpanLFAnalysis
from labelloop.weak.spans import SpanApplyResult, SpanTuple, apply_span_lfs


def _check_spans_project(project: Project) -> None:
    if not project.schema.task_type.has_spans:
        raise ValidationError(f"span labeling functions need a spans project; this one is "
                              f"{project.schema.task!r}")


def apply_span_lfs_to_project(
    project: Project,
    lfs: Sequence[Any],
    *,
    split: str | None = None,
    executor: ExecutorSpec = "local",
    n_jobs: int | None = None,
    version: str = "",
) -> SpanApplyResult:
    """Apply span LFs to the project's items (or one split) and store their spans.

    An LF applied again replaces its earlier spans on these items. LFs may return class
    names or indices.

    Raises
    ------
    ValidationError
        If the project is not a spans project or holds no items (in ``split``).
    """
    _check_spans_project(project)
    item_ids = project.store.job_item_ids(project.id, split=split)
    if not item_ids:
        raise ValidationError("the project has no items" + (f" in split {split!r}"
                                                            if split else ""))
    names = project.schema.names
    result = apply_span_lfs(lfs, project.store.item_data(project.id, item_ids), labels=names,
                            executor=executor, n_jobs=n_jobs)
    sources = [project.source("labeling_function", name, version) for name in result.lf_names]
    source_ids = [int(s.id) for s in sources if s.id is not None]
    by_name = dict(zip(result.lf_names, source_ids, strict=True))
    failed = {(f.item, f.lf) for f in result.failures}
    # a failed cell stores nothing: the LF did not look at that item
    keep = [
        AnnotationRecord(item_id=item_id, source_id=sid,
                         spans=[Span(start=a, end=b, label=names[c]) for a, b, c in spans])
        for i, (item_id, row) in enumerate(zip(item_ids, result.spans, strict=True))
        for name, sid, spans in zip(result.lf_names, source_ids, row, strict=True)
        if (i, name) not in failed
    ]
    project.replace_annotations(source_ids, item_ids, keep)
    project.record_failures([
        Failure(item_ids[f.item], by_name[f.lf], "labeling_function", f"{f.kind}: {f.error}")
        for f in result.failures
    ])
    return result


def span_votes(project: Project) -> tuple[list[int], list[str], list[list[list[SpanTuple]]],
                                          list[list[SpanTuple] | None]]:
    """Item ids, LF names, each LF's spans per item and the gold spans per item (None where
    an item has no gold), read from the store; the first gold source wins."""
    _check_spans_project(project)
    index = {n: c for c, n in enumerate(project.schema.names)}
    lf_sources = project.sources(kinds=["labeling_function"])
    names = sorted({s.name for s in lf_sources})
    column = {s.id: names.index(s.name) for s in lf_sources}
    gold_ids = [s.id for s in project.sources(kinds=["gold"])]
    item_ids = sorted(it.id for it in project.items() if it.id is not None)
    row = {item_id: r for r, item_id in enumerate(item_ids)}
    votes: list[list[list[SpanTuple]]] = [[[] for _ in names] for _ in item_ids]
    gold: list[list[SpanTuple] | None] = [None] * len(item_ids)
    for a in project.annotations(kinds=["labeling_function", "gold"]):
        spans = [(s.start, s.end, index[s.label]) for s in a.spans or []]
        if a.source_id in column:
            votes[row[a.item_id]][column[a.source_id]] = sorted(spans)
        elif a.source_id in gold_ids and a.spans is not None:
            first = gold[row[a.item_id]]
            if first is None or gold_ids.index(a.source_id) == 0:
                gold[row[a.item_id]] = sorted(spans)
    return item_ids, names, votes, gold


def analyze_span_project(project: Project) -> Any:
    """:meth:`SpanLFAnalysis.summary` of the stored span LFs, with precision, recall and F1
    against the project's gold spans where it has any.

    Raises
    ------
    ValidationError
        If no span LF has been applied.
    """
    _, names, votes, gold = span_votes(project)
    if not names:
        raise ValidationError("no labeling-function spans stored: run `labelloop lf apply` "
                              "first")
    has_gold = any(g is not None for g in gold)
    return SpanLFAnalysis(votes, names).summary(gold if has_gold else None)


@dataclass
class SpanSources:
    """Every stored span source of a project, as token spans per item.

    Attributes
    ----------
    item_ids, tokens:
        The items in id order and their tokens' character offsets.
    votes:
        ``votes[i][j]``: token spans ``(first, last + 1, class)`` of column ``j``.
    gold:
        Gold token spans per item (the first gold source wins), None without gold.
    columns:
        ``(kind, name)`` of each column (a source's versions share one).
    """

    item_ids: list[int]
    tokens: list[list[tuple[int, int]]]
    votes: list[list[list[tuple[int, int, int]]]]
    gold: list[list[tuple[int, int, int]] | None]
    columns: list[tuple[str, str]]

    @property
    def lengths(self) -> list[int]:
        """Tokens per item."""
        return [len(t) for t in self.tokens]


def span_sources(project: Project,
                 kinds: Sequence[str] = ("labeling_function", "model", "human")
                 ) -> SpanSources:
    """Read the spans of every source of ``kinds`` (columns) and of gold, per item.

    Raises
    ------
    ValidationError
        If the project is not a spans project.
    """
    _check_spans_project(project)
    index = {n: c for c, n in enumerate(project.schema.names)}
    sources = [s for s in project.sources(kinds=[*kinds, "gold"]) if s.id is not None]
    columns = sorted({(str(s.kind), s.name) for s in sources if s.kind != "gold"})
    col_of = {int(s.id or 0): columns.index((str(s.kind), s.name))
              for s in sources if s.kind != "gold"}
    gold_ids = [int(s.id or 0) for s in sources if s.kind == "gold"]
    items = [it for it in project.items() if it.id is not None]
    ids = [int(it.id or 0) for it in items]
    row = {item_id: r for r, item_id in enumerate(ids)}
    tokens = [tokenize(it.text or "") for it in items]
    votes: list[list[list[tuple[int, int, int]]]] = [[[] for _ in columns] for _ in items]
    gold: list[list[tuple[int, int, int]] | None] = [None] * len(items)
    for a in project.annotations(source_ids=list(col_of) + gold_ids):
        if a.spans is None:
            continue
        r = row[a.item_id]
        found = token_spans([(s.start, s.end, index[s.label]) for s in a.spans], tokens[r])
        if a.source_id in col_of:
            j = col_of[a.source_id]
            votes[r][j] = sorted(set(votes[r][j]) | set(found))  # a source's versions
        elif gold[r] is None or gold_ids.index(a.source_id) == 0:
            gold[r] = found
    return SpanSources(ids, tokens, votes, gold, columns)


SPAN_MODEL_SOURCE = "span-label-model"
"""Name of the ``label_model`` source the fitted spans are stored under."""


@dataclass
class SpanFitReport:
    """What :func:`fit_span_label_model` did."""

    n_items: int
    sources: list[str]
    n_gold: int
    n_spans: int
    n_needs_review: int
    guardrail: dict[str, float] | None = None
    fallback: bool = False
    warnings: list[str] = field(default_factory=list)


def fit_span_label_model(
    project: Project,
    *,
    kinds: Sequence[str] = ("labeling_function", "model", "human"),
    base: str = "dawid-skene",
    scheme: Scheme = "IO",
    silence: Silence = "missing",
    decode: Decode | None = "split",
    o_bias: float = 0.0,
    review_below: float = 0.7,
) -> SpanFitReport:
    """Fit the span label model over every stored span source and store its spans.

    Each source of ``kinds`` (span LFs, pre-labelers, people) is a column; gold spans
    anchor the model and run its guardrail against majority vote. The spans go to the
    ``label_model`` source :data:`SPAN_MODEL_SOURCE`, replacing its earlier answers; an
    item's confidence is that of its least sure candidate token, and below
    ``review_below`` it needs review. The defaults (IO tags, split decode) are the setting
    ``benchmarks/spans.py`` chose on BC5CDR's valid split.

    Raises
    ------
    ValidationError
        If the project is not a spans project or no source of ``kinds`` holds spans.
    """
    _check_spans_project(project)
    stored = span_sources(project, kinds)
    ids, tokens, votes, gold, columns = (stored.item_ids, stored.tokens, stored.votes,
                                         stored.gold, stored.columns)
    if not any(spans for v in votes for spans in v):
        raise ValidationError(f"no spans stored by sources of kinds {list(kinds)}: apply span "
                              "labeling functions or add annotations first")
    lengths = [len(t) for t in tokens]
    has_gold = any(g is not None for g in gold)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = SpanLabelModel(project.schema.k, base=base, scheme=scheme, silence=silence,
                               decode=decode, o_bias=o_bias)
        model.fit(votes, lengths, gold if has_gold else None)
    predicted = model.predict(votes, lengths)
    P = model.predict_proba(votes, lengths)
    sure = P.max(axis=1)
    out_id = int(project.source("label_model", SPAN_MODEL_SOURCE).id or 0)
    records, off = [], 0
    for item_id, toks, spans, n in zip(ids, tokens, predicted, lengths, strict=True):
        confidence = float(np.min(sure[off:off + n])) if n else 1.0
        item_p = P[off:off + n]
        off += n
        records.append(AnnotationRecord(
            item_id=item_id, source_id=out_id, confidence=confidence,
            needs_review=confidence < review_below,
            spans=[Span(start=a, end=b, label=project.schema.names[c],
                        score=_span_score(item_p[first:last], c, scheme))
                   for (a, b, c), (first, last, _) in zip(char_spans(spans, toks), spans,
                                                          strict=True)]))
    project.replace_annotations([out_id], ids, records)
    return SpanFitReport(
        n_items=len(ids), sources=[f"{k}:{n}" for k, n in columns],
        n_gold=sum(g is not None for g in gold), n_spans=sum(len(s) for s in predicted),
        n_needs_review=sum(r.needs_review for r in records), guardrail=model.guardrail_,
        fallback=model.fallback_, warnings=[str(w.message) for w in caught])


def _span_score(P: npt.NDArray[np.float64], c: int, scheme: Scheme) -> float:
    """A span's confidence: the least probability, over its tokens, that the token is in
    class ``c`` (B or I tag under BIO)."""
    cols = [c + 1] if scheme == "IO" else [2 * c + 1, 2 * c + 2]
    return round(float(np.clip(P[:, cols].sum(axis=1).min(), 0.0, 1.0)), 4)


__all__ = [
    "SPAN_MODEL_SOURCE",
    "SpanFitReport",
    "SpanSources",
    "analyze_span_project",
    "apply_span_lfs_to_project",
    "fit_span_label_model",
    "span_sources",
    "span_votes",
]
