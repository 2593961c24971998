"""Active-learning priorities for a spans project.

The span label model is fitted over every stored span source (span LFs, pre-labelers such
as ``spacy-ner``, people; gold anchors it), its token posteriors become one row per item
(the most uncertain token's, :func:`labelloop.active.spans.item_token_proba`), and a query
strategy picks the next batch from those rows and the items' sentence embeddings: the
default ``hybrid`` shortlists the most uncertain items and spreads the batch over k-means
clusters of their embeddings. Embeddings come from the store's cache under
``embedding_model`` and the missing ones are computed and cached (MiniLM by default).

Priorities follow :func:`labelloop.services.active.refresh_priorities`: the picked batch
gets ``1 + (batch - rank) / batch``, every other unlabelled item its uncertainty. Before
any source holds spans there is no posterior, and the strategies fall back to diversity.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from labelloop.active.registry import DEFAULT_STRATEGY, get_strategy
from labelloop.active.spans import TokenScore, item_token_proba, span_item_uncertainty
from labelloop.core.records import SourceKind
from labelloop.errors import ValidationError
from labelloop.labelmodels.spans import SpanLabelModel
from labelloop.services.project import Project
from labelloop.services.span_weak import span_sources

if TYPE_CHECKING:
    from labelloop.services.active import PriorityReport

SOURCES = ("labeling_function", "model", "human")


def span_posteriors(project: Project, *, token_score: TokenScore = "least_confidence",
                    base: str = "majority",
                    ) -> tuple[list[int], npt.NDArray[np.floating[Any]] | None]:
    """Item ids and one posterior row per item (its most uncertain token), or None when
    no source holds spans yet.

    The model is :class:`~labelloop.labelmodels.spans.SpanLabelModel` with IO tags over
    every span source, on ``base``. The default is the token majority vote, whose posterior
    is the share of sources voting each tag: unanimous tokens are sure, contested ones are
    not. Dawid-Skene (``"dawid-skene"``) is the better *decoder* on many LFs, but on few
    sources its token posteriors stay near-flat even where sources agree (a 2-source
    unanimous token and a 3-2 conflict both scored margin ~0.7 in our check), which ranks
    nothing.
    """
    stored = span_sources(project, SOURCES)
    if not any(spans for row in stored.votes for spans in row):
        return stored.item_ids, None
    has_gold = any(g is not None for g in stored.gold)
    with warnings.catch_warnings():  # the guardrail's fallback is fine for ranking
        warnings.simplefilter("ignore")
        model = SpanLabelModel(project.schema.k, base=base, scheme="IO", silence="missing",
                               decode="split")
        model.fit(stored.votes, stored.lengths, stored.gold if has_gold else None)
    P = model.predict_proba(stored.votes, stored.lengths)
    return stored.item_ids, item_token_proba(P, stored.lengths, score=token_score)


def _checked_items(project: Project) -> set[int]:
    return {a.item_id for a in project.annotations(kinds=(SourceKind.HUMAN, SourceKind.GOLD))
            if a.spans is not None}


def _embeddings(project: Project, ids: list[int], model: str, embed_missing: bool
                ) -> tuple[list[int], npt.NDArray[np.float32]]:
    found, X = project.cached_embeddings(model, ids)
    have = set(found)
    missing = [i for i in ids if i not in have]
    if missing and embed_missing:
        from labelloop.prelabel.embeddings import TextEmbedder

        embedder = TextEmbedder(model)
        texts = [it.text or "" for it in project.items(ids=missing)]
        vectors = embedder.embed(texts)
        project.cache_embeddings(model, missing, vectors)
        found, X = project.cached_embeddings(model, ids)
    return found, X


def refresh_span_priorities(
    project: Project,
    *,
    embedding_model: str = "minilm",
    strategy: str = DEFAULT_STRATEGY,
    batch_size: int | None = None,
    token_score: TokenScore = "least_confidence",
    embed_missing: bool = True,
    random_state: int | None = 0,
) -> PriorityReport:
    """Rank the unlabelled items of a spans project and store their priorities.

    Parameters
    ----------
    project : Project
        A spans project.
    embedding_model : str, default="minilm"
        Sentence embeddings for the diversity part (cached in the store under this name).
    strategy : str, default="hybrid"
        A name in ``labelloop.active.STRATEGIES``.
    batch_size : int, optional
        Items the strategy ranks on top; default ``settings.requeue_every``.
    token_score : {"least_confidence", "margin", "entropy"}
        Which token is an item's most uncertain (the strategy then scores its row).
    embed_missing : bool, default=True
        Embed and cache items without a cached vector (else they are left unscored).
    random_state : int or None, default=0

    Raises
    ------
    ValidationError
        If the project is not a spans project or an option is unknown.
    """
    from labelloop.services.active import PriorityReport, human_label_count

    if not project.schema.task_type.has_spans:
        raise ValidationError(f"span priorities need a spans project, not "
                              f"{project.schema.task!r}")
    chooser = get_strategy(strategy)
    ids, rows = span_posteriors(project, token_score=token_score)
    found, X = _embeddings(project, ids, embedding_model, embed_missing)
    pos = {i: r for r, i in enumerate(ids)}
    keep = np.array([pos[i] for i in found], dtype=np.int64)
    proba = None if rows is None else rows[keep]
    checked = _checked_items(project)
    labeled = np.array([r for r, i in enumerate(found) if i in checked], dtype=np.int64)
    unlabeled = np.setdiff1d(np.arange(len(found)), labeled)
    priorities: dict[int, float] = {}
    if unlabeled.size:
        base = (np.zeros(len(found)) if proba is None
                else span_item_uncertainty(proba, [1] * len(found), score=token_score))
        priorities = {int(found[r]): float(base[r]) for r in unlabeled}
        n = min(batch_size or project.settings.requeue_every, unlabeled.size)
        picked = chooser.select(proba, X, n, labeled=labeled, random_state=random_state)
        for rank, r in enumerate(picked):
            priorities[int(found[r])] = 1.0 + (n - rank) / n
        project.set_priorities(priorities)
    return PriorityReport(
        strategy=strategy, n_items=len(ids), n_scored=len(priorities),
        n_human_labeled=len(checked), n_weak_labeled=0 if rows is None else len(ids),
        missing_embeddings=len(ids) - len(found), model_fitted=rows is not None,
        n_human_labels=human_label_count(project))


__all__ = ["refresh_span_priorities", "span_posteriors"]
