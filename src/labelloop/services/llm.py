"""LLM sources on a stored project: pre-labeling drafts, the answer cache, run accounting.

:func:`prelabel_llm` drafts every text item not yet drafted by this LLM source version
(model + prompt hash + sampling) through :class:`~labelloop.prelabel.llm.LLMClassifier`,
as :func:`~labelloop.services.prelabel.prelabel_project` does with MiniLM: drafts are a
``model`` source with a confidence and probabilities, one item that fails is recorded
(stage ``prelabel``) and the rest go on, and ``needs_review`` comes from per-class
thresholds calibrated (Clopper-Pearson, target precision) on the drafts of items people
labelled -- drafts of this source version from earlier runs included, and those earlier
drafts are flagged again by the new thresholds. Few-shot examples never include the item
itself, so those calibration drafts are out-of-sample.

Answers are cached in the store (:class:`StoreCache`), so a re-run sends no request and an
interrupted run resumes; each run's requests, tokens and cost are recorded
(:func:`llm_runs`, shown by ``labelloop status``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from dataclasses import replace as dc_replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from labelloop.core.records import ItemRecord, SourceKind
from labelloop.errors import ValidationError
from labelloop.prelabel import calibrate_thresholds
from labelloop.prelabel.calibrate import Calibration, uncalibrated
from labelloop.prelabel.llm import (
    Answer,
    ExamplePool,
    LLMClassifier,
    LLMClient,
    LLMConfig,
    PromptTemplate,
    builtin_text,
)
from labelloop.services.project import Project
from labelloop.storage.llm import LLMRun
from labelloop.storage.protocol import StoreProtocol

if TYPE_CHECKING:  # services.prelabel imports this module when asked for model="llm"
    from labelloop.services.prelabel import PrelabelReport

TEMPLATE_FILE = Path("prompts") / "classify.txt"
"""Where a project keeps its editable prompt (written from the built-in one on first use)."""
INSTRUCTIONS_FILE = "instructions.md"
"""The annotator instructions of a project folder, put into the prompt when present."""


@dataclass(frozen=True)
class LLMOptions:
    """How to pre-label with an LLM.

    Attributes
    ----------
    config:
        Endpoint, model, sampling and budget.
    template:
        A prompt template file (default: the project's ``prompts/classify.txt``, written
        from the built-in template on first use; the built-in one outside a folder).
    instructions:
        Annotator instructions (default: the project folder's ``instructions.md``).
    shots:
        Labelled examples per item, the most similar by MiniLM embeddings (0: zero-shot).
    embedder:
        The embedding model of few-shot similarity.
    """

    config: LLMConfig = field(default_factory=LLMConfig)
    template: str | Path | None = None
    instructions: str | None = None
    shots: int = 0
    embedder: str = "minilm"


class StoreCache:
    """The project store as the :class:`~labelloop.prelabel.llm.AnswerCache` of a client."""

    def __init__(self, store: StoreProtocol, model: str) -> None:
        self.store = store
        self.model = model

    def get_answers(self, keys: Sequence[str]) -> dict[str, Answer]:
        return {k: Answer.from_dict(d) for k, d in self.store.llm_answers(keys).items()}

    def put_answers(self, answers: Mapping[str, Answer]) -> None:
        self.store.put_llm_answers(self.model, {k: a.to_dict() for k, a in answers.items()})


@contextmanager
def recorded_run(project: Project, client: LLMClient, *, kind: str, name: str
                 ) -> Iterator[None]:
    """Count a run of ``client`` from zero and record what it spent, even if interrupted."""
    client.new_run()
    started = datetime.now(UTC)
    try:
        yield
    finally:
        usage = client.usage
        if usage.requests or usage.cached or usage.unsent:
            project.store.record_llm_run(project.id, kind=kind, name=name,
                                         model=client.config.model, started_at=started,
                                         counts=usage.to_dict())


def llm_runs(project: Project, *, limit: int | None = 20) -> list[LLMRun]:
    """The project's recorded LLM runs, newest first."""
    return project.store.llm_runs(project.id, limit=limit)


def use_store_cache(project: Project, lfs: Sequence[Any]) -> list[Any]:
    """Give the LLM labeling functions among ``lfs`` the store as their answer cache;
    returns them (to record their runs)."""
    found = [lf for lf in lfs if callable(getattr(lf, "use_cache", None))]
    for lf in found:
        lf.use_cache(StoreCache(project.store, lf.client.config.model))
    return found


def prelabel_llm(project: Project, options: LLMOptions, *, target: float, per_class: bool,
                 progress: bool) -> PrelabelReport:
    """Draft every text item with an LLM (see the module docstring).

    Returns
    -------
    PrelabelReport
        With ``n_unsent`` (items the budget left for the next run) and ``usage``.

    Raises
    ------
    ValidationError
        For a task other than text classification, or bad options.
    """
    from labelloop.services.prelabel import human_majority_labels, not_yet_drafted, store_drafts

    if project.schema.task != "text-classification":
        raise ValidationError(
            f"LLM pre-labeling supports text-classification, not {project.schema.task} "
            "(boxes and images through multimodal endpoints are not supported yet)"
        )
    clf = LLMClassifier(project.schema, options.config, template=_template(project, options),
                        instructions=_instructions(project, options), shots=options.shots)
    clf.client.cache = StoreCache(project.store, clf.client.config.model)
    source = project.source(SourceKind.MODEL, clf.name, clf.version)
    items = project.items()
    todo = not_yet_drafted(project, source, items)
    human = human_majority_labels(project)
    pool, vectors = _few_shot(project, options, items, todo, human) if options.shots else (
        None, None)
    with recorded_run(project, clf.client, kind="prelabel", name=clf.name):
        result = clf.predict(todo, pool=pool, vectors=vectors, progress=progress)
    if source.id is None:
        raise ValidationError(f"source {source.name!r} has no id; was it stored?")
    calibration, n_checked = _calibrate(project, source.id, todo, result, human, target,
                                        per_class)
    result.drafts = [None if d is None else dc_replace(
        d, needs_review=not bool(calibration.accept([d.score], [int(d.label or 0)])[0]))
        for d in result.drafts]  # (every LLM draft has a label)
    report = store_drafts(project, source, items, todo, result, n_checked, calibration)
    return dc_replace(report, n_unsent=len(result.unsent),
                      usage=clf.client.usage.to_dict())


def _template(project: Project, options: LLMOptions) -> PromptTemplate:
    if options.template is not None:
        return PromptTemplate.load(options.template)
    if project.folder is None:
        return PromptTemplate.builtin("classify")
    path = project.folder / TEMPLATE_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(builtin_text("classify"), encoding="utf-8")
    return PromptTemplate.load(path)


def _instructions(project: Project, options: LLMOptions) -> str:
    if options.instructions is not None:
        return options.instructions
    path = project.folder / INSTRUCTIONS_FILE if project.folder is not None else None
    return path.read_text(encoding="utf-8") if path is not None and path.is_file() else ""


def _few_shot(project: Project, options: LLMOptions, items: list[ItemRecord],
              todo: list[ItemRecord], human: dict[int, int]
              ) -> tuple[ExamplePool | None, Any]:
    """The labelled examples and the embeddings of ``todo`` (cached in the store)."""
    from labelloop.prelabel import TextEmbedder

    labelled = [it for it in items if it.id in human and it.text is not None]
    if not labelled or not todo:
        return None, None
    embedder = TextEmbedder(options.embedder)
    wanted = {_id(it): str(it.text) for it in [*labelled, *todo] if it.text is not None}
    ids = sorted(wanted)
    found, cached = project.cached_embeddings(embedder.name, ids)
    vectors = dict(zip(found, cached, strict=True))
    missing = [i for i in ids if i not in vectors]
    if missing:
        fresh = embedder.embed([wanted[i] for i in missing])
        project.cache_embeddings(embedder.name, missing, fresh)
        vectors.update(zip(missing, fresh, strict=True))
    pool = ExamplePool(
        ids=[_id(it) for it in labelled], texts=[wanted[_id(it)] for it in labelled],
        labels=[human[_id(it)] for it in labelled],
        vectors=np.stack([vectors[_id(it)] for it in labelled]),
    )
    dim = pool.vectors.shape[1]
    query = np.stack([vectors.get(_id(it), np.zeros(dim, np.float32)) for it in todo])
    return pool, query


def _id(item: ItemRecord) -> int:
    """The id of a stored item (read from the store, so it has one)."""
    if item.id is None:
        raise ValidationError("an item read from the store has no id")
    return int(item.id)


def _calibrate(project: Project, source_id: int, todo: list[ItemRecord], result: Any,
               human: dict[int, int], target: float, per_class: bool
               ) -> tuple[Calibration, int]:
    """Thresholds from every draft of this source version on a human-labelled item; the
    earlier drafts whose flag the thresholds change are flagged again."""
    k = project.schema.k
    earlier = project.annotations(source_ids=[source_id])
    drafted = {a.item_id: (a.confidence or 0.0, a.label) for a in earlier
               if a.label is not None}
    for d in result.ok():
        drafted[_id(todo[d.index])] = (d.score, d.label)
    checked = [i for i in drafted if i in human]
    if not checked:
        return uncalibrated(k, target_precision=target), 0
    calibration = calibrate_thresholds(
        [drafted[i][0] for i in checked], [drafted[i][1] for i in checked],
        [human[i] for i in checked], n_classes=k, target_precision=target,
        per_class=per_class,
    )
    reflagged = []
    for a in earlier:
        if a.label is None:
            continue
        flag = not bool(calibration.accept([a.confidence or 0.0], [a.label])[0])
        if flag != a.needs_review:
            reflagged.append(a.model_copy(update={"needs_review": flag}))
    if reflagged:
        project.add_annotations(reflagged)
    return calibration, len(checked)
