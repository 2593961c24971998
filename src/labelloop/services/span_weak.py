"""Span labeling functions on a stored ``spans`` project: apply them, analyze them.

Each span LF is a ``labeling_function`` source; its answer on an item is the list of spans
it found there (an empty list when it found none, so an LF that looked is told apart from
one that did not run). Failures are recorded with the project's failures (stage
``labeling_function``), one per LF and item.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from labelloop.core.records import AnnotationRecord, Span
from labelloop.errors import ValidationError
from labelloop.exec import ExecutorSpec
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


__all__ = ["analyze_span_project", "apply_span_lfs_to_project", "span_votes"]
