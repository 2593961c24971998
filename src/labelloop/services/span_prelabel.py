"""Pre-label a spans project with spaCy (and the user's phrase lists).

The drafts are a ``model`` source (``spacy-ner``, versioned by the pipeline and a hash of
the entity mapping, phrases and beam width) whose answers are spans; the span label model
(:func:`labelloop.services.span_weak.fit_span_label_model`) reads them like any other
span source. Each span's ``score`` is its beam marginal and the item's ``confidence`` the
beam's probability that the draft is whole and right (:mod:`labelloop.prelabel.spacy_ner`);
``needs_review`` is set by the item-level threshold calibrated on the items people (or
gold answers) have checked, at the project's target precision. Every run recalibrates and
re-flags the earlier drafts of the same version; only new items are run through spaCy.
An item that fails is recorded (stage ``prelabel``) and the rest go on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from labelloop.core.records import AnnotationRecord, ItemRecord, SourceKind, Span
from labelloop.exec import Executor, executor_for, worker_cached
from labelloop.prelabel.spacy_ner import (
    CharSpan,
    SpacyChunk,
    SpacySpanPrelabeler,
    SpanDraft,
    calibrate_span_items,
    load_entity_map,
    load_phrases,
)
from labelloop.services.jobs import DEFAULT_CHUNK, Progress
from labelloop.services.prelabel import STAGE, PrelabelReport
from labelloop.services.project import Project
from labelloop.storage.store import Failure


@dataclass(frozen=True)
class SpanPrelabelOptions:
    """How spaCy's entities become the project's spans.

    Attributes
    ----------
    entity_map:
        ``{spaCy label: class or None}`` or a JSON/YAML file of it (default:
        :data:`~labelloop.prelabel.spacy_ner.DEFAULT_ENTITY_MAP`).
    phrases:
        ``{class: [phrase, ...]}`` or a JSON/YAML file of it, matched case-insensitively.
    """

    entity_map: Path | Mapping[str, str | None] | None = None
    phrases: Path | Mapping[str, Sequence[str]] | None = None


def checked_spans(project: Project) -> dict[int, list[CharSpan]]:
    """Spans a person gave per item, as ``(start, end, class)``: a gold answer wins, else
    the answer of the human source with the lowest id."""
    index = {n: c for c, n in enumerate(project.schema.names)}
    out: dict[int, list[CharSpan]] = {}
    for kind in (SourceKind.GOLD, SourceKind.HUMAN):
        for a in sorted(project.annotations(kinds=(kind,)), key=lambda a: a.source_id):
            if a.spans is not None and a.item_id not in out:
                out[a.item_id] = sorted((s.start, s.end, index[s.label]) for s in a.spans)
    return out


def prelabel_spans(project: Project, *, model: str, target: float,
                   options: SpanPrelabelOptions | None = None,
                   executor: Executor | None = None, chunk_size: int = DEFAULT_CHUNK,
                   on_chunk: Progress | None = None) -> PrelabelReport:
    """Draft spans for every item not yet drafted by this model version, then calibrate.

    spaCy runs on ``executor`` (default: this process) in chunks of ``chunk_size`` items,
    the pipeline loaded once per worker; ``on_chunk`` hears (chunks done, chunks in all).

    Raises
    ------
    UserInputError
        For a mapping or phrase file that does not parse, or phrases of unknown classes.
    ModelLoadError, MissingDependencyError
        When spaCy or the pipeline cannot be loaded.
    """
    options = options or SpanPrelabelOptions()
    entity_map = (load_entity_map(options.entity_map) if isinstance(options.entity_map, Path)
                  else options.entity_map)
    phrases = (load_phrases(options.phrases) if isinstance(options.phrases, Path)
               else options.phrases)
    names = project.schema.names
    drafter = SpacySpanPrelabeler(names, model=model, entity_map=entity_map, phrases=phrases)
    source = project.source(SourceKind.MODEL, drafter.name, drafter.version)
    sid = int(source.id or 0)
    items = project.items()
    index = {n: c for c, n in enumerate(names)}
    earlier = {a.item_id: a for a in project.annotations(source_ids=[sid])}
    drafts = {i: SpanDraft(sorted((s.start, s.end, index[s.label]) for s in a.spans or []),
                           [s.score if s.score is not None else 1.0 for s in sorted(
                               a.spans or [], key=lambda s: (s.start, s.end,
                                                             index[s.label]))],
                           a.confidence if a.confidence is not None else 0.0)
              for i, a in earlier.items()}
    todo = [it for it in items if it.id not in earlier]
    if executor is None:
        with executor_for("local") as runner:
            failures = _draft(drafter, todo, drafts, sid, runner, chunk_size, on_chunk)
    else:
        failures = _draft(drafter, todo, drafts, sid, executor, chunk_size, on_chunk)
    checked = checked_spans(project)
    both = sorted(i for i in checked if i in drafts)
    calibration = calibrate_span_items([drafts[i].confidence for i in both],
                                       [drafts[i].spans for i in both],
                                       [checked[i] for i in both], target_precision=target)
    threshold = float(calibration.thresholds[0])
    records = [_record(i, sid, d, threshold, names) for i, d in drafts.items()]
    changed = [r for r in records if r.item_id not in earlier
               or earlier[r.item_id].needs_review != r.needs_review]
    for start in range(0, len(changed), DEFAULT_CHUNK):  # bounded transactions
        project.add_annotations(changed[start:start + DEFAULT_CHUNK])
    if failures:
        project.record_failures(failures)
    new = [r for r in records if r.item_id not in earlier]
    return PrelabelReport(
        model=drafter.name, version=drafter.version, n_items=len(items),
        n_skipped=len(items) - len(todo), n_drafted=len(new), n_failed=len(failures),
        n_needs_review=sum(r.needs_review for r in new), n_human_checked=len(both),
        coverage=calibration.coverage, calibration={**calibration.to_dict(), "level": "item"})


def _draft(drafter: SpacySpanPrelabeler, todo: list[ItemRecord], drafts: dict[int, SpanDraft],
           sid: int, executor: Executor, size: int, on_chunk: Progress | None
           ) -> list[Failure]:
    """Run spaCy over ``todo`` in chunks on the executor into ``drafts``; an item that fails
    is recorded and the rest go on."""
    fn = SpacyChunk(
        tuple(drafter.names), drafter.model,
        None if drafter.entity_map is None else tuple(sorted(drafter.entity_map.items())),
        None if drafter.phrases is None else tuple(sorted(
            (k, tuple(v)) for k, v in drafter.phrases.items())),
        drafter.beam_width)
    worker_cached(fn.key, lambda: drafter)  # this process has it loaded already
    bounds = [(a, min(a + size, len(todo))) for a in range(0, len(todo), size)]
    payloads = ((c, [it.text or "" for it in todo[a:b]]) for c, (a, b) in enumerate(bounds))
    failures = []
    for n_done, (c, part) in enumerate(executor.map_chunks(fn, payloads), 1):
        a, _ = bounds[c]
        for it, draft in zip(todo[a:a + len(part)], part, strict=True):
            if isinstance(draft, str):
                failures.append(Failure(int(it.id or 0), sid, STAGE, draft))
            else:
                drafts[int(it.id or 0)] = draft
        if on_chunk is not None:
            on_chunk(n_done, len(bounds))
    return failures


def _record(item_id: int, sid: int, draft: SpanDraft, threshold: float,
            names: Sequence[str]) -> AnnotationRecord:
    return AnnotationRecord(
        item_id=item_id, source_id=sid, confidence=draft.confidence,
        needs_review=not draft.confidence >= threshold,
        spans=[Span(start=a, end=b, label=names[c], score=score)
               for (a, b, c), score in zip(draft.spans, draft.scores, strict=True)])


__all__ = ["SpanPrelabelOptions", "checked_spans", "prelabel_spans"]
