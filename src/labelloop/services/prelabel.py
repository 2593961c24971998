"""Pre-label a project: draft every item with a model, stored as a ``model`` source.

Text projects: item embeddings are cached in the store under the embedding model's name
(active learning reads them from there), the classifier adapts to the whole pool
(:meth:`ZeroShotTextClassifier.fit`, human labels included), and per-class auto-accept
thresholds are calibrated on the human-labelled items from *cross-fitted* scores (each
half of the labelled items is scored by a model fitted on the other half), so the
bound is not fooled by the model having seen those labels. Until the calibration passes,
every draft needs review.

Models that never see labels (NLI) are calibrated directly on their scores of the
human-labelled items.

Detection projects: boxes from :class:`ObjectDetector` whose label is a class of the
schema (compared case-insensitively; other boxes are dropped); a draft needs review when
nothing was found or a box scores below the threshold: ``settings.review_threshold`` until
people have boxed some images, then the calibrated one (:func:`calibrate_box_threshold`).

Items already drafted by the same model name and version are skipped; one item that
fails is recorded (stage ``prelabel``) and the rest go on.

The heavy steps -- embedding the texts not cached yet, running a detector over the images --
run in chunks on an executor (``local``, ``processes``, ``dask`` or ``tcp://HOST:PORT``,
:mod:`labelloop.exec`), the model loaded once per worker. Embeddings are cached chunk by
chunk as they finish, so an interrupted run resumes from the cached ones. Neighbour
smoothing uses an HNSW index past 20,000 items (:mod:`labelloop.prelabel.neighbors`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import replace as dc_replace
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from labelloop.core.records import AnnotationRecord, Box, ItemRecord, SourceKind, SourceRecord
from labelloop.errors import ValidationError
from labelloop.exec import Executor, ExecutorSpec, executor_for, worker_cached
from labelloop.prelabel import (
    Calibration,
    ObjectDetector,
    PrelabelResult,
    ZeroShotTextClassifier,
    calibrate_box_threshold,
    calibrate_thresholds,
)
from labelloop.prelabel.base import item_text
from labelloop.prelabel.calibrate import uncalibrated
from labelloop.prelabel.chunks import DetectChunk, EmbedChunk
from labelloop.services.jobs import DEFAULT_CHUNK, Progress
from labelloop.services.project import Project
from labelloop.storage.store import Failure

if TYPE_CHECKING:  # loaded on demand: model="llm" only, spans projects only
    from labelloop.services.llm import LLMOptions
    from labelloop.services.span_prelabel import SpanPrelabelOptions

STAGE = "prelabel"


@dataclass(frozen=True)
class PrelabelReport:
    """What one pre-labeling run did."""

    model: str
    version: str
    n_items: int
    n_skipped: int
    n_drafted: int
    n_failed: int
    n_needs_review: int
    n_human_checked: int
    coverage: float
    calibration: dict[str, Any] | None
    n_unsent: int = 0
    """Items an LLM run's budget left for the next run (neither drafted nor failed)."""
    usage: dict[str, Any] | None = None
    """An LLM run's requests, cached answers, tokens and cost."""

    @property
    def n_auto_accepted(self) -> int:
        """Drafts stored without the needs_review flag."""
        return self.n_drafted - self.n_needs_review


def prelabel_project(
    project: Project,
    *,
    model: str = "minilm",
    target_precision: float | None = None,
    per_class: bool = True,
    progress: bool = False,
    executor: ExecutorSpec = "local",
    n_workers: int | None = None,
    chunk_size: int | None = None,
    on_chunk: Progress | None = None,
    llm: LLMOptions | None = None,
    spans: SpanPrelabelOptions | None = None,
) -> PrelabelReport:
    """Draft every item of ``project`` not yet drafted by this model version.

    Parameters
    ----------
    project:
        An open project.
    model:
        A built-in model name (``labelloop models``), a hub name or a local path;
        ``"llm"``: an LLM behind an OpenAI-compatible endpoint, as ``llm`` says
        (:func:`labelloop.services.llm.prelabel_llm`).
    target_precision:
        Precision auto-accepted text drafts must reach (default: the project setting).
    per_class:
        One auto-accept threshold per class (each class reaches the target), or one for
        all classes (more auto-accepted with few checks; the target holds overall).
    progress:
        Draw progress bars (of the local executor's batches).
    executor:
        Where embeddings and detections run: ``"local"``, ``"processes"``, ``"dask"``, a
        scheduler address ``"tcp://HOST:PORT"`` or a :class:`labelloop.exec.Executor`.
    n_workers:
        Workers for ``"processes"`` and ``"dask"``.
    chunk_size:
        Items per chunk sent to the executor (default 5,000).
    on_chunk:
        Called with (chunks done, chunks in all) as chunks finish.
    llm:
        With ``model="llm"``: the :class:`labelloop.services.llm.LLMOptions` (endpoint,
        model, budget, samples, prompt, shots).
    spans:
        Spans projects: the entity mapping and phrase lists
        (:class:`labelloop.services.span_prelabel.SpanPrelabelOptions`). Their model is
        ``"spacy-ner"`` (also what the default ``"minilm"`` means there) or the folder of a
        spaCy pipeline.

    Raises
    ------
    ValidationError
        For a task pre-labeling does not support (image classification).
    ModelLoadError, MissingDependencyError
        When the model cannot be loaded.
    """
    task = project.schema.task
    if project.schema.task_type.is_image and not project.schema.task_type.has_boxes:
        raise ValidationError(
            f"pre-labeling supports text-classification and object-detection, not {task}"
        )
    if chunk_size is not None and chunk_size < 1:
        raise ValidationError(f"chunk_size must be >= 1, got {chunk_size}")
    target = target_precision or project.settings.target_precision
    if project.schema.task_type.has_spans and model in ("llm", "minilm-torch"):
        raise ValidationError(f"--model {model} drafts classes, not spans; spans projects "
                              "pre-label with --model spacy-ner or a spaCy pipeline folder")
    if model == "llm":
        from labelloop.services.llm import LLMOptions, prelabel_llm

        return prelabel_llm(project, llm if llm is not None else LLMOptions(), target=target,
                            per_class=per_class, progress=progress)
    items = project.items()
    with executor_for(executor, n_workers=n_workers) as runner:
        chunks = Chunks(runner, chunk_size or DEFAULT_CHUNK, on_chunk)
        if project.schema.task_type.has_spans:
            from labelloop.services.span_prelabel import prelabel_spans

            return prelabel_spans(project, model="spacy-ner" if model == "minilm" else model,
                                  target=target, options=spans, executor=runner,
                                  chunk_size=chunks.size, on_chunk=on_chunk)
        if not project.schema.task_type.is_image:
            return _prelabel_text(project, items, model, target, per_class, progress, chunks)
        return _prelabel_boxes(project, items, model, target, progress, chunks)


@dataclass(frozen=True)
class Chunks:
    """Where and how big the chunks of the heavy steps are."""

    executor: Executor
    size: int
    on_chunk: Progress | None

    def bounds(self, n: int) -> list[tuple[int, int]]:
        return [(a, min(a + self.size, n)) for a in range(0, n, self.size)]

    def done(self, finished: int, total: int) -> None:
        if self.on_chunk is not None:
            self.on_chunk(finished, total)


def _prelabel_text(
    project: Project,
    items: list[ItemRecord],
    model: str,
    target: float,
    per_class: bool,
    progress: bool,
    chunks: Chunks,
) -> PrelabelReport:
    clf = ZeroShotTextClassifier(project.schema, model=model)
    human = human_majority_labels(project)
    with_text = [it for it in items if it.text is not None]
    calibration = None
    embeddings = None
    if clf.uses_embeddings and with_text:
        embeddings = embed_items(project, clf, with_text, chunks)
        y = np.array([human.get(it.id, -1) for it in with_text])  # type: ignore[arg-type]
        calibration = _cross_fitted_calibration(clf, embeddings, y, target, per_class)
        clf.fit(embeddings, y)
        clf.calibration = calibration
    elif human:
        calibration = _calibration_from_labels(clf, with_text, human, target, per_class)
        clf.calibration = calibration
    source = project.source(SourceKind.MODEL, clf.name, clf.version)
    todo = not_yet_drafted(project, source, items)
    rows = {it.id: r for r, it in enumerate(with_text)}
    if embeddings is not None and all(it.id in rows for it in todo):
        vectors = embeddings[[rows[it.id] for it in todo]] if todo else None
        result = clf.predict(todo, embeddings=vectors, progress=progress)
    else:
        result = clf.predict(todo, progress=progress)
    return store_drafts(project, source, items, todo, result, len(human), calibration)


def _prelabel_boxes(
    project: Project, items: list[ItemRecord], model: str, target: float, progress: bool,
    chunks: Chunks,
) -> PrelabelReport:
    """Draft boxes; once people have boxed some images, calibrate the review threshold.

    Without checked images an image needs review when a box scores below the project's
    ``review_threshold``. With them, the threshold comes from
    :func:`calibrate_box_threshold` on the checked images this detector version drafted,
    and every draft of the version (earlier runs too) is flagged again by it.
    """
    names = project.schema.names
    keep = {n: n for n in names} | {n.lower(): n for n in names}  # detector labels -> classes
    detector = ObjectDetector(
        model, labels=keep, root=project.folder,
        review_threshold=project.settings.review_threshold,
    )
    source = project.source(SourceKind.MODEL, detector.name, detector.version)
    todo = not_yet_drafted(project, source, items)
    fn = DetectChunk(model, tuple(keep.items()), str(project.folder) if project.folder else None,
                     project.settings.review_threshold)
    worker_cached(fn.key, lambda: detector)  # this process has it loaded already
    result = PrelabelResult(detector.name, detector.version, [None] * len(todo), [])
    bounds = chunks.bounds(len(todo))
    payloads = ((c, (a, todo[a:b])) for c, (a, b) in enumerate(bounds))
    for n_done, (_, part) in enumerate(chunks.executor.map_chunks(fn, payloads), 1):
        for d in part.drafts:
            if d is not None:
                result.drafts[d.index] = d
        result.errors.extend(part.errors)
        chunks.done(n_done, len(bounds))
    result.errors.sort(key=lambda e: e.index)
    checked = _checked_boxes(project)
    if not checked:
        return store_drafts(project, source, items, todo, result, 0, None)
    earlier = project.annotations(source_ids=[int(source.id)])  # type: ignore[arg-type]
    drafted = {a.item_id: list(a.boxes or []) for a in earlier}
    for d in result.ok():
        drafted[int(todo[d.index].id)] = list(d.boxes or [])  # type: ignore[arg-type]
    both = [i for i in checked if i in drafted]
    calibration = calibrate_box_threshold(
        [drafted[i] for i in both], [checked[i] for i in both], target_precision=target
    )
    threshold = float(calibration.thresholds[0])

    def review(boxes: Sequence[Box] | None, score: float | None) -> bool:
        return not boxes or (score if score is not None else 0.0) < threshold

    result.drafts = [
        None if d is None else dc_replace(d, needs_review=review(d.boxes, d.score))
        for d in result.drafts
    ]
    reflagged = [
        a.model_copy(update={"needs_review": review(a.boxes, a.confidence)})
        for a in earlier
        if a.needs_review != review(a.boxes, a.confidence)
    ]
    if reflagged:
        project.add_annotations(reflagged)
    return store_drafts(project, source, items, todo, result, len(both), calibration)


def _checked_boxes(project: Project) -> dict[int, list[Box]]:
    """Boxes a person drew or confirmed per image: gold (a review) first, else a human's."""
    out: dict[int, list[Box]] = {}
    for kind in (SourceKind.HUMAN, SourceKind.GOLD):  # gold last, so it wins
        for a in project.annotations(kinds=(kind,)):
            if a.boxes is not None:
                out[a.item_id] = list(a.boxes)
    return out


def embed_items(
    project: Project, clf: ZeroShotTextClassifier, items: list[ItemRecord], chunks: Chunks
) -> npt.NDArray[np.float32]:
    """Embeddings of ``items`` from the store's cache, computing and caching the missing.

    The missing ones are embedded in chunks on the executor and cached as each chunk ends.
    """
    ids = [int(it.id) for it in items]  # type: ignore[arg-type]
    name = clf.embedder.name
    found, cached = project.cached_embeddings(name, ids)
    row_of = {i: r for r, i in enumerate(ids)}
    out = np.zeros((len(items), clf.embedder.dim), dtype=np.float32)
    if found:
        out[[row_of[i] for i in found]] = cached
    have = set(found)
    missing = [it for it in items if it.id not in have]
    fn = EmbedChunk(name, clf.embedder.max_length)
    worker_cached(fn.key, lambda: clf.embedder)  # this process has it loaded already
    bounds = chunks.bounds(len(missing))
    payloads = ((c, [item_text(it) for it in missing[a:b]]) for c, (a, b) in enumerate(bounds))
    for n_done, (c, vectors) in enumerate(chunks.executor.map_chunks(fn, payloads), 1):
        a, b = bounds[c]
        chunk_ids = [int(it.id) for it in missing[a:b]]  # type: ignore[arg-type]
        project.cache_embeddings(name, chunk_ids, vectors)
        out[[row_of[i] for i in chunk_ids]] = vectors
        chunks.done(n_done, len(bounds))
    return out


def _cross_fitted_calibration(
    clf: ZeroShotTextClassifier,
    X: npt.NDArray[np.float32],
    y: npt.NDArray[np.int64],
    target: float,
    per_class: bool,
) -> Calibration:
    """Thresholds from out-of-sample scores of the human-labelled items (2-fold)."""
    labelled = np.flatnonzero(y >= 0)
    if not labelled.size:
        return uncalibrated(len(clf.classes), target_precision=target)
    fold = np.zeros(len(y), dtype=bool)
    fold[labelled[::2]] = True
    scores, predicted = np.zeros(len(y)), np.zeros(len(y), dtype=int)
    for held_out in (fold, ~fold):
        part = np.where(held_out, -1, y)
        proba = clf.fit(X, part).predict_proba(X[held_out & (y >= 0)])
        rows = np.flatnonzero(held_out & (y >= 0))
        scores[rows], predicted[rows] = proba.max(axis=1), proba.argmax(axis=1)
    truth = np.full(len(y), -1)
    truth[labelled] = y[labelled]
    return calibrate_thresholds(
        scores, predicted, truth, n_classes=len(clf.classes), target_precision=target,
        per_class=per_class,
    )


def _calibration_from_labels(
    clf: ZeroShotTextClassifier,
    items: list[ItemRecord],
    human: dict[int, int],
    target: float,
    per_class: bool,
) -> Calibration:
    """Thresholds for a model that never sees labels (NLI): score the labelled items."""
    checked = [it for it in items if it.id in human]
    proba = clf.predict_proba(checked)
    truth = np.array([human[it.id] for it in checked])  # type: ignore[index]
    return calibrate_thresholds(
        proba.max(axis=1), proba.argmax(axis=1), truth, n_classes=len(clf.classes),
        target_precision=target, per_class=per_class,
    )


def human_majority_labels(project: Project) -> dict[int, int]:
    """Majority label per item from humans and gold answers (ties to the lower class)."""
    votes: dict[int, Counter[int]] = defaultdict(Counter)
    for a in project.annotations(kinds=(SourceKind.HUMAN, SourceKind.GOLD)):
        if a.label is not None:
            votes[a.item_id][a.label] += 1
    return {i: min(c, key=lambda lab: (-c[lab], lab)) for i, c in votes.items()}


def not_yet_drafted(
    project: Project, source: SourceRecord, items: list[ItemRecord]
) -> list[ItemRecord]:
    """The items ``source`` has no vote on yet, in the given order."""
    done = {a.item_id for a in project.annotations(source_ids=[int(source.id)])}  # type: ignore[arg-type]
    return [it for it in items if it.id not in done]


def store_drafts(
    project: Project,
    source: SourceRecord,
    items: list[ItemRecord],
    todo: list[ItemRecord],
    result: PrelabelResult,
    n_checked: int,
    calibration: Calibration | None,
) -> PrelabelReport:
    """Store a pre-labeler's drafts of ``todo`` (needs_review from ``calibration``) with its
    failures, re-flag the source's earlier drafts, and report the run."""
    annotations = [
        AnnotationRecord(
            item_id=int(todo[d.index].id),  # type: ignore[arg-type]
            source_id=int(source.id),  # type: ignore[arg-type]
            label=d.label,
            boxes=list(d.boxes) if d.boxes is not None else None,
            confidence=min(max(d.score, 0.0), 1.0),
            probs=list(d.probs) if d.probs is not None else None,
            needs_review=d.needs_review,
        )
        for d in result.ok()
    ]
    for start in range(0, len(annotations), DEFAULT_CHUNK):  # bounded transactions
        project.add_annotations(annotations[start : start + DEFAULT_CHUNK])
    if result.errors:
        project.record_failures(
            [Failure(e.item_id, source.id, STAGE, e.error) for e in result.errors]
        )
    return PrelabelReport(
        model=result.model,
        version=result.version,
        n_items=len(items),
        n_skipped=len(items) - len(todo),
        n_drafted=len(annotations),
        n_failed=len(result.errors),
        n_needs_review=sum(a.needs_review for a in annotations),
        n_human_checked=n_checked,
        coverage=calibration.coverage if calibration is not None else 0.0,
        calibration=calibration.to_dict() if calibration is not None else None,
    )
