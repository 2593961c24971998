"""The closed loop as one state machine: what the CLI, the simulator and the server run.

One **round**:

1. retrains the pre-labeler's head on the human + gold labels outside the calibration
   sample (zero-shot prototypes anchor it, :class:`~labelloop.prelabel.ZeroShotTextClassifier`;
   on precomputed embeddings with no embedding model, a logistic regression,
   :class:`~labelloop.prelabel.head.EmbeddingHead`);
2. refits the label model over every other voting source (labeling functions, humans; gold
   anchors it) and combines its posterior with the pre-labeler's probabilities
   (``P ∝ P_label_model * P_prelabeler / class_balance``, the pre-labeler being a soft
   source where the label model only sees hard votes);
3. recalibrates the auto-accept thresholds with the Clopper-Pearson procedure
   (:func:`~labelloop.prelabel.calibrate_thresholds`) on the *calibration sample*: items the
   loop queued uniformly at random in earlier rounds and a person labelled. Their scores are
   out-of-sample (the pre-labeler never trains on them, the human columns are masked out
   of the label model), so the guarantee "auto-accepted precision >= target with
   probability 1 - delta" holds for the unlabelled pool the sample was drawn from;
4. auto-accepts the unlabelled items the thresholds allow at the project's
   ``target_precision``;
5. re-ranks the queue: the query strategy (default hybrid) on the combined posterior picks
   the batch, and a share of it (``calibration_share``) is drawn at random to grow the
   calibration sample;
6. routes by difficulty when the project's ``routing`` is ``"difficulty"``: the open items
   whose posterior is below ``hard_below`` (neither labelled nor auto-accepted) go to the
   project's experts only, who take them first; the easy ones stay with everyone else (and
   the surest are auto-accepted, step 4).

Every round is recorded (:mod:`labelloop.storage.loop_rounds`): its inputs' versions, what
changed, how long it took. It is computed without writing and committed in one
transaction (drafts, posterior, priorities, status), so a failed round keeps the previous
state and a killed one applies nothing; the next round marks it ``interrupted`` and runs
from scratch.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from labelloop.active.registry import DEFAULT_STRATEGY, get_strategy
from labelloop.core.matrix import ABSTAIN
from labelloop.core.records import LOOP_SOURCE, AnnotationRecord, SourceKind
from labelloop.core.schema import ProjectSettings
from labelloop.errors import ValidationError
from labelloop.exec import LocalExecutor
from labelloop.labelmodels import make_label_model, resolve_name
from labelloop.prelabel import Calibration, ZeroShotTextClassifier, calibrate_thresholds
from labelloop.prelabel.embeddings import EMBEDDING_MODELS
from labelloop.prelabel.head import EmbeddingHead
from labelloop.services.jobs import DEFAULT_CHUNK
from labelloop.services.prelabel import Chunks, embed_items, human_majority_labels
from labelloop.services.project import Project
from labelloop.services.weak import gold_labels
from labelloop.storage.loop_rounds import LoopRound

FloatArray = npt.NDArray[np.float64]
POSTERIOR_NAME = LOOP_SOURCE
"""Name of the ``label_model`` source holding the loop's posterior."""


@dataclass(frozen=True)
class LoopConfig:
    """How rounds run (the project's settings give the target precision and cadence).

    Parameters
    ----------
    embedding_model:
        Embedding model (``"minilm"``, a sentence-transformers path) or the name precomputed
        embeddings are cached under; with such a name the pre-labeler is
        :class:`~labelloop.prelabel.head.EmbeddingHead` and every item must have a cached vector.
    strategy:
        Query strategy that ranks the queue (``labelloop.active.STRATEGIES``).
    batch_size:
        Items ranked on top per round; default the project's ``loop_every`` (or 10).
    calibration_share:
        Share of each batch drawn uniformly at random, the calibration sample.
    label_model:
        Label model over the voting sources (``labelloop.labelmodels`` name).
    per_class:
        One auto-accept threshold per class (else one for all classes).
    delta:
        Allowed probability that auto-accepted precision falls below the target.
    random_state:
        Seed of the random draws (mixed with the round number).
    """

    embedding_model: str = "minilm"
    strategy: str = DEFAULT_STRATEGY
    batch_size: int | None = None
    calibration_share: float = 0.2
    label_model: str = "auto"
    per_class: bool = True
    delta: float = 0.05
    random_state: int = 0

    def check(self) -> None:
        """Raise ValidationError for an option out of range or an unknown name."""
        get_strategy(self.strategy)
        resolve_name(self.label_model)
        if not 0.0 <= self.calibration_share <= 1.0:
            raise ValidationError(
                f"calibration_share must be in [0, 1], got {self.calibration_share}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValidationError(f"batch_size must be >= 1, got {self.batch_size}")


class Prelabeler(Protocol):
    """What the loop needs of a pre-labeler that works on embeddings."""

    name: str

    def fit(self, X: Any, y: Any) -> Any: ...

    def predict_proba(self, X: Any) -> FloatArray: ...


@dataclass
class RoundReport:
    """A committed round, with its results for the caller (the simulator reads the arrays)."""

    round: LoopRound
    item_ids: npt.NDArray[np.int64]
    labels: npt.NDArray[np.int64]
    """Posterior label per item (``-1`` where nothing votes)."""
    accepted: npt.NDArray[np.bool_]
    """Unlabelled items auto-accepted this round."""
    human: npt.NDArray[np.int64]
    """Human/gold label per item (``-1``: none)."""
    confidence: npt.NDArray[np.float64]
    """Posterior probability of the posterior label."""
    queue: list[int] = field(default_factory=list)
    """Item ids of the batch ranked on top, best first."""
    hard: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))
    """Items routed to experts (routing by difficulty; all False when routing is off)."""

    @property
    def changes(self) -> dict[str, Any]:
        """What the round changed (as recorded)."""
        return self.round.changes


def uses_embedding_model(name: str) -> bool:
    """Whether ``name`` is a model that can embed texts (else: precomputed vectors)."""
    return name in EMBEDDING_MODELS or Path(name).exists()


def human_answer_count(project: Project) -> int:
    """Number of human answers carrying a label (what ``loop_every`` counts)."""
    return sum(a.label is not None for a in project.annotations(kinds=(SourceKind.HUMAN,)))


def round_due(project: Project) -> bool:
    """True when no round has run yet or ``loop_every`` new human answers arrived since the
    last finished one (any new answer when ``loop_every`` is 0)."""
    last = project.store.loop_rounds(project.id, status="done", limit=1)
    if not last:
        return True
    seen = int(last[0].inputs.get("n_human_answers", 0))
    return human_answer_count(project) - seen >= max(project.settings.loop_every, 1)


def run_round(
    project: Project, *, config: LoopConfig | None = None, trigger: str = "cli",
    prelabeler: Prelabeler | None = None,
) -> RoundReport:
    """Run one round of the loop on ``project`` and commit it atomically.

    Parameters
    ----------
    project:
        An open text-classification project.
    config:
        How the round runs (default :class:`LoopConfig`).
    trigger:
        Who started it (``"cli"``, ``"watch"``, ``"simulate"``, ``"server"``), recorded.
    prelabeler:
        A pre-labeler to use instead of the one ``config.embedding_model`` names.

    Raises
    ------
    ValidationError
        For a project the loop does not support, a bad option, or missing embeddings.
    Exception
        Whatever failed inside the round; the round is recorded ``failed`` and the
        project keeps its previous state.
    """
    cfg = config or LoopConfig()
    cfg.check()
    if project.schema.task != "text-classification":
        raise ValidationError(
            f"the loop supports text-classification projects, not {project.schema.task}")
    inputs = _inputs(project, cfg)
    rnd = project.store.begin_round(project.id, trigger=trigger, inputs=inputs)
    t0 = time.perf_counter()
    try:
        result = _compute(project, cfg, rnd, prelabeler)
        committed = project.store.commit_round(
            project.id, rnd.id, annotations=result.annotations, priorities=result.priorities,
            changes=result.changes, seconds=time.perf_counter() - t0,
            hard=[int(i) for i in result.item_ids[result.hard]],
        )
    except BaseException as exc:  # Ctrl-C too: the round applied nothing
        project.store.fail_round(project.id, rnd.id, f"{type(exc).__name__}: {exc}",
                                 seconds=time.perf_counter() - t0)
        raise
    return RoundReport(committed, result.item_ids, result.labels, result.accepted,
                       result.human, result.confidence, result.queue, result.hard)


def _inputs(project: Project, cfg: LoopConfig) -> dict[str, Any]:
    """What a round reads, by version: sources, answer counts, settings, options."""
    sources = [[s.kind, s.name, s.version] for s in project.sources()
               if s.kind != SourceKind.LABEL_MODEL]
    return {
        "n_items": project.store.count_items(project.id),
        "n_human_answers": human_answer_count(project),
        "sources": sources,
        "settings": project.settings.model_dump(),
        "config": asdict(cfg),
    }


@dataclass
class _Result:
    item_ids: npt.NDArray[np.int64]
    labels: npt.NDArray[np.int64]
    accepted: npt.NDArray[np.bool_]
    human: npt.NDArray[np.int64]
    confidence: npt.NDArray[np.float64]
    annotations: list[AnnotationRecord]
    priorities: dict[int, float]
    changes: dict[str, Any]
    queue: list[int]
    hard: npt.NDArray[np.bool_]


def _compute(project: Project, cfg: LoopConfig, rnd: LoopRound,
             prelabeler: Prelabeler | None) -> _Result:
    """Everything a round decides, read from the store, nothing written but embeddings."""
    k = project.schema.k
    ids = np.asarray(project.store.job_item_ids(project.id), dtype=np.int64)
    if ids.size == 0:
        raise ValidationError("the project has no items: import some first")
    head = prelabeler or _make_prelabeler(project, cfg)
    X = _item_embeddings(project, cfg, ids, head)
    human = human_majority_labels(project)
    y = np.array([human.get(int(i), -1) for i in ids], dtype=np.int64)
    sample = _calibration_sample(project)
    cal = np.flatnonzero((y >= 0) & np.isin(ids, sample))

    # the calibration sample is held out of the pre-labeler's training: its scores of
    # those items are out-of-sample, from the very model whose drafts are accepted
    head.fit(X, np.where(np.isin(np.arange(ids.size), cal), -1, y))
    P_model = np.asarray(head.predict_proba(X), dtype=np.float64)
    P_lm, P_lm_cal, balance = _label_model(project, cfg, ids, cal)
    P = _combine(P_lm, P_model, balance)
    P_cal = _combine(P_lm_cal, P_model[cal], balance)
    target = project.settings.target_precision
    calibration = _calibrate(P_cal, y[cal], k, target, cfg)
    model_calibration = _calibrate(P_model[cal], y[cal], k, target, cfg)

    pred = P.argmax(axis=1).astype(np.int64)
    score = P.max(axis=1)
    labelled = y >= 0
    accepted = calibration.accept(score, pred) & ~labelled
    model_review = ~model_calibration.accept(P_model.max(axis=1), P_model.argmax(axis=1))
    hard = hard_items(project.settings, score, labelled, accepted)

    rng = np.random.default_rng([cfg.random_state, rnd.id])
    batch = cfg.batch_size or project.settings.loop_every or 10
    queue, cal_picks = _rank(cfg, P, X, labelled, accepted, batch, rng)
    priorities = {int(ids[r]): float(p) for r, p in _priorities(P, labelled, accepted, queue)}

    model_src = project.source(SourceKind.MODEL, f"loop:{getattr(head, 'name', 'head')}")
    post_src = project.source(SourceKind.LABEL_MODEL, POSTERIOR_NAME, cfg.label_model)
    previous = {a.item_id: a for a in project.annotations(source_ids=[int(post_src.id)])}  # type: ignore[arg-type]
    annotations = _annotations(ids, P_model, model_review, int(model_src.id), P,  # type: ignore[arg-type]
                               ~(accepted | labelled), int(post_src.id))  # type: ignore[arg-type]
    prev_label = np.array([_label(previous.get(int(i))) for i in ids])
    prev_accepted = np.array([_accepted(previous.get(int(i))) for i in ids])
    changes = {
        "n_items": int(ids.size),
        "n_human_labelled": int(labelled.sum()),
        "n_calibration_checked": int(cal.size),
        "n_auto_accepted": int(accepted.sum()),
        "n_newly_accepted": int((accepted & ~prev_accepted).sum()),
        "n_no_longer_accepted": int((~accepted & prev_accepted & ~labelled).sum()),
        "n_labels_changed": int(((prev_label >= 0) & (prev_label != pred)).sum()),
        "n_needs_review": int((~(accepted | labelled)).sum()),
        "calibration": calibration.to_dict(),
        "prelabeler_calibration": model_calibration.to_dict(),
        "calibration_items": [int(ids[r]) for r in cal_picks],
        "queue_top": [int(ids[r]) for r in queue],
        "label_model": cfg.label_model if P_lm is not None else None,
        "routing": project.settings.routing,
        "n_hard": int(hard.sum()),
    }
    return _Result(ids, pred, accepted, y, score, annotations, priorities, changes,
                   [int(ids[r]) for r in queue], hard)


def hard_items(settings: ProjectSettings, score: FloatArray, labelled: npt.NDArray[np.bool_],
               accepted: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Items routed to experts: with routing by difficulty, the open ones (not labelled,
    not auto-accepted) whose posterior ``score`` is below ``settings.hard_below``."""
    if settings.routing != "difficulty":
        return np.zeros(score.shape[0], dtype=bool)
    return np.asarray(~labelled & ~accepted & (score < settings.hard_below), dtype=bool)


def _make_prelabeler(project: Project, cfg: LoopConfig) -> Prelabeler:
    if uses_embedding_model(cfg.embedding_model):
        return ZeroShotTextClassifier(project.schema, model=cfg.embedding_model)
    return EmbeddingHead(project.schema.k, name=f"head:{cfg.embedding_model}")


def _item_embeddings(project: Project, cfg: LoopConfig, ids: npt.NDArray[np.int64],
                     head: Prelabeler) -> npt.NDArray[np.float32]:
    """Cached vectors of every item; the missing are embedded (and cached) when a model can."""
    if isinstance(head, ZeroShotTextClassifier) and head.uses_embeddings:
        items = project.items(ids=ids.tolist())
        chunks = Chunks(LocalExecutor(), DEFAULT_CHUNK, None)
        return embed_items(project, head, items, chunks)
    found, X = project.cached_embeddings(cfg.embedding_model, ids.tolist())
    if len(found) != ids.size:
        raise ValidationError(
            f"{ids.size - len(found)} item(s) have no embeddings cached under "
            f"{cfg.embedding_model!r}: cache them, or name an embedding model "
            f"({', '.join(EMBEDDING_MODELS)})")
    order = np.argsort(np.asarray(found))
    return X[order]  # ids are in id order, so are the sorted found ones


def _calibration_sample(project: Project) -> npt.NDArray[np.int64]:
    """Item ids every finished round queued as calibration draws."""
    out: list[int] = []
    for r in project.store.loop_rounds(project.id, status="done"):
        out.extend(int(i) for i in r.changes.get("calibration_items", []))
    return np.asarray(sorted(set(out)), dtype=np.int64)


def _label_model(project: Project, cfg: LoopConfig, ids: npt.NDArray[np.int64],
                 cal: npt.NDArray[np.int64]
                 ) -> tuple[FloatArray | None, FloatArray | None, FloatArray | None]:
    """Posterior of the label model over LF and human votes (gold anchors it): for every
    item, for the calibration rows with human votes masked, and the class balance.
    ``(None, None, None)`` when no such source votes."""
    lm = project.label_matrix(kinds=["labeling_function", "human"], item_ids=ids.tolist())
    L = np.asarray(lm.L)
    if L.shape[1] == 0 or (L == ABSTAIN).all():
        return None, None, None
    k = project.schema.k
    gold = gold_labels(project, ids.tolist())
    estimator: Any = make_label_model(cfg.label_model, k)
    estimator.fit(L, gold)
    P = np.asarray(estimator.predict_proba(L), dtype=np.float64)
    balance = np.asarray(getattr(estimator, "class_balance_", np.full(k, 1.0 / k)),
                         dtype=np.float64)
    humans = {s.id for s in project.sources(kinds=["human"])}
    masked = L[cal].copy()
    masked[:, [j for j, s in enumerate(lm.source_ids) if s in humans]] = ABSTAIN
    P_cal = (np.asarray(estimator.predict_proba(masked), dtype=np.float64) if cal.size
             else np.zeros((0, k)))
    # where nothing votes the label model knows only the class balance (no opinion)
    P[(L == ABSTAIN).all(axis=1)] = balance
    P_cal[(masked == ABSTAIN).all(axis=1)] = balance
    return P, P_cal, balance


def _combine(P_lm: FloatArray | None, P_model: FloatArray, balance: FloatArray | None
             ) -> FloatArray:
    """``P_lm * P_model / balance``, normalised per row (``P_model`` alone without P_lm)."""
    if P_lm is None or balance is None or P_model.shape[1] != P_lm.shape[1]:
        return P_model
    joint = P_lm * P_model / np.clip(balance, 1e-6, None)
    total = joint.sum(axis=1, keepdims=True)
    return np.where(total > 0, joint / np.where(total > 0, total, 1.0), P_model)


def _calibrate(P: FloatArray, truth: npt.NDArray[np.int64], k: int, target: float,
               cfg: LoopConfig) -> Calibration:
    if P.shape[1] != k:
        P = np.full((len(truth), k), 1.0 / k)
    return calibrate_thresholds(P.max(axis=1), P.argmax(axis=1), truth, n_classes=k,
                                target_precision=target, delta=cfg.delta,
                                per_class=cfg.per_class)


def _rank(cfg: LoopConfig, P: FloatArray, X: Any, labelled: npt.NDArray[np.bool_],
          accepted: npt.NDArray[np.bool_], batch: int, rng: np.random.Generator
          ) -> tuple[list[int], list[int]]:
    """Rows ranked on top (best first) and which of them are calibration draws."""
    open_rows = np.flatnonzero(~labelled)
    n = min(batch, open_rows.size)
    n_cal = min(round(cfg.calibration_share * n), n)
    cal_picks = [int(r) for r in rng.choice(open_rows, n_cal, replace=False)] if n_cal else []
    n_active = n - n_cal
    taken = np.flatnonzero(labelled | accepted)
    taken = np.union1d(taken, np.asarray(cal_picks, dtype=np.int64))
    n_active = min(n_active, len(P) - taken.size)
    active: list[int] = []
    if n_active > 0:
        strategy = get_strategy(cfg.strategy)
        picked = strategy.select(P, X, n_active, labeled=taken,
                                 random_state=int(rng.integers(2**31)))
        active = [int(r) for r in picked]
    keyed = [((i + 0.5) / len(active), r) for i, r in enumerate(active)]
    keyed += [((i + 0.5) / len(cal_picks), r) for i, r in enumerate(cal_picks)]
    return [r for _, r in sorted(keyed)], cal_picks


def _priorities(P: FloatArray, labelled: npt.NDArray[np.bool_], accepted: npt.NDArray[np.bool_],
                queue: list[int]) -> list[tuple[int, float]]:
    """Queue order: the ranked batch in ``(1, 2]``, then the posterior's margin uncertainty
    in ``[0, 1]``, auto-accepted items last (0)."""
    top2 = np.sort(P, axis=1)[:, -2:] if P.shape[1] > 1 else np.ones((len(P), 2))
    base = np.where(accepted, 0.0, 1.0 - (top2[:, 1] - top2[:, 0]))
    out = {int(r): float(base[r]) for r in np.flatnonzero(~labelled)}
    n = len(queue)
    for rank, r in enumerate(queue):
        out[r] = 1.0 + (n - rank) / n
    return list(out.items())


def _annotations(ids: npt.NDArray[np.int64], P_model: FloatArray,
                 model_review: npt.NDArray[np.bool_], model_source: int, P: FloatArray,
                 review: npt.NDArray[np.bool_], post_source: int) -> list[AnnotationRecord]:
    out: list[AnnotationRecord] = []
    for probs, flags, source in ((P_model, model_review, model_source),
                                 (P, review, post_source)):
        labels = probs.argmax(axis=1)
        conf = np.clip(probs.max(axis=1), 0.0, 1.0)
        out.extend(
            AnnotationRecord(item_id=i, source_id=source, label=lab, confidence=c,
                             probs=p, needs_review=f)
            for i, lab, c, p, f in zip(ids.tolist(), labels.tolist(), conf.tolist(),
                                       probs.tolist(), flags.tolist(), strict=True))
    return out


def _label(a: AnnotationRecord | None) -> int:
    return -1 if a is None or a.label is None else int(a.label)


def _accepted(a: AnnotationRecord | None) -> bool:
    return a is not None and a.label is not None and not a.needs_review


def rounds(project: Project, *, limit: int | None = 20) -> list[LoopRound]:
    """The project's recorded rounds, newest first."""
    return project.store.loop_rounds(project.id, limit=limit)
