"""Zero-shot text classification that works offline and improves with the data.

With an embedding model (default ``"minilm"``, shipped with the install) a text's class
scores are the cosine similarities between its embedding and each class's embedded
*description* (the class name where there is none). :meth:`ZeroShotTextClassifier.fit`
adapts to a corpus without labels and uses human labels where there are some:

1. *neighbour smoothing*: each text's probabilities are mixed with the mean of its
   ``neighbors`` nearest texts in the corpus (human-labelled ones count as one-hot);
2. *self-training*: a linear head anchored at the class embeddings
   (:mod:`labelloop.prelabel.head`) is fitted on the most confident share of each
   predicted class plus every human label, for ``self_train_rounds`` rounds.

Any other model name or path is a ``transformers`` NLI model run through the
zero-shot-classification pipeline (no embeddings, no fit).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from labelloop.core.schema import LabelClass, LabelSchema
from labelloop.errors import UserInputError, ValidationError
from labelloop.prelabel.base import Draft, ItemLike, PrelabelResult, item_id, item_text, run_batches
from labelloop.prelabel.calibrate import Calibration, uncalibrated
from labelloop.prelabel.embeddings import EMBEDDING_MODELS, TextEmbedder
from labelloop.prelabel.head import AnchoredHead, confident_subset
from labelloop.prelabel.neighbors import nearest_neighbors
from labelloop.prelabel.nli import NLIZeroShot

ClassesLike = LabelSchema | Sequence[LabelClass | str] | Mapping[str, str]
TextsLike = Sequence[ItemLike] | npt.NDArray[Any]
"""Texts or items, or an array: float embeddings ``(n, dim)`` or an array of texts."""


class ZeroShotTextClassifier:
    """Draft a class for each text, with probabilities, before any human label.

    Parameters
    ----------
    classes:
        A :class:`LabelSchema`, a list of class names or :class:`LabelClass`, or a
        mapping from name to description. Descriptions matter: "Sports news: games,
        matches, teams, players" beats "Sports".
    model:
        ``"minilm"`` (int8 ONNX, default), ``"minilm-torch"``, a sentence-transformers
        model, or a ``transformers`` NLI model (name or path) such as
        ``facebook/bart-large-mnli``.
    scale:
        Logit scale of the similarity head (inverse temperature).
    neighbors:
        Nearest corpus texts mixed into each prediction after :meth:`fit` (0: off).
    smoothing:
        Weight of the neighbours' mean in that mix.
    self_train_rounds, self_train_share:
        Rounds of self-training in :meth:`fit` and the share of each predicted class
        (most confident first) used as pseudo-labels.
    l2:
        Pull of the fitted head towards the class embeddings.
    calibration:
        Per-class auto-accept thresholds (:func:`calibrate_thresholds`). Without one,
        every draft needs review.
    batch_size, max_length:
        Texts per batch; tokens kept per text.
    hypothesis_template:
        NLI models only: the sentence each class name is put into.
    """

    def __init__(
        self,
        classes: ClassesLike,
        *,
        model: str = "minilm",
        scale: float = 20.0,
        neighbors: int = 10,
        smoothing: float = 0.8,
        self_train_rounds: int = 2,
        self_train_share: float = 0.6,
        l2: float = 0.01,
        calibration: Calibration | None = None,
        batch_size: int = 256,
        max_length: int = 128,
        hypothesis_template: str = "This example is {}.",
    ) -> None:
        self.classes = _parse_classes(classes)
        if not 0.0 <= smoothing <= 1.0:
            raise ValidationError(f"smoothing must be in [0, 1], got {smoothing}")
        if not 0.0 < self_train_share <= 1.0:
            raise ValidationError(f"self_train_share must be in (0, 1], got {self_train_share}")
        self.name = model
        self.scale = scale
        self.neighbors = neighbors
        self.smoothing = smoothing
        self.self_train_rounds = self_train_rounds
        self.self_train_share = self_train_share
        self.l2 = l2
        self.batch_size = batch_size
        self.calibration = calibration or uncalibrated(len(self.classes))
        self._embedder: TextEmbedder | None = None
        self._nli: NLIZeroShot | None = None
        if _is_embedding_model(model):
            self._embedder = TextEmbedder(model, max_length=max_length)
            texts = [c.description or c.name for c in self.classes]
            self.prototypes_ = self._embedder.embed(texts).astype(np.float64)
            self.head_ = AnchoredHead.zero_shot(self.prototypes_, scale=scale)
            base = self._embedder.version
        else:
            labels = [c.name for c in self.classes]
            self._nli = NLIZeroShot(
                model, labels, hypothesis_template=hypothesis_template, batch_size=batch_size
            )
            base = self._nli.version
        self._base_version = base
        self._template = hypothesis_template
        self._corpus: npt.NDArray[np.float32] | None = None
        self._corpus_proba: npt.NDArray[np.float64] | None = None
        self.version = self._fingerprint()

    # -- embeddings -------------------------------------------------------------------
    @property
    def uses_embeddings(self) -> bool:
        """Whether the model works on embeddings (and so supports ``embed`` and ``fit``)."""
        return self._embedder is not None

    @property
    def embedder(self) -> TextEmbedder:
        """The embedding model (raises for NLI models, which have none)."""
        if self._embedder is None:
            raise UserInputError(
                f"model {self.name!r} is an NLI model and has no embeddings; "
                f"use an embedding model ({', '.join(EMBEDDING_MODELS)})"
            )
        return self._embedder

    def embed(
        self, texts: Sequence[ItemLike], *, progress: bool = False
    ) -> npt.NDArray[np.float32]:
        """Unit-length ``(n, dim)`` float32 embeddings (cache them under ``embedder.version``)."""
        return self.embedder.embed([item_text(t) for t in texts], progress=progress)

    # -- fitting ----------------------------------------------------------------------
    def fit(
        self, X: TextsLike, y: Sequence[int] | npt.NDArray[np.integer[Any]] | None = None
    ) -> ZeroShotTextClassifier:
        """Adapt to a corpus: neighbour smoothing and self-training, plus any human labels.

        Parameters
        ----------
        X:
            Texts, items, or their embeddings ``(n, dim)``: the whole pool to draft.
        y:
            Human labels as class indices, ``-1`` where an item is unlabelled
            (scikit-learn's semi-supervised convention); ``None``: no labels.

        Returns
        -------
        ZeroShotTextClassifier
            ``self``, fitted.
        """
        Z = self._as_embeddings(X).astype(np.float64)
        labels = np.full(len(Z), -1) if y is None else np.asarray(y, dtype=int)
        if labels.shape != (len(Z),):
            raise ValidationError(f"y must have one label per text ({len(Z)}), got {labels.shape}")
        if labels.max(initial=-1) >= len(self.classes) or labels.min(initial=-1) < -1:
            raise ValidationError(f"labels must be -1 or 0..{len(self.classes) - 1}")
        self._compute_fit(Z, labels)
        self.version = self._fingerprint()
        return self

    def _compute_fit(self, Z: npt.NDArray[np.float64], labels: npt.NDArray[np.int_]) -> None:
        k = len(self.classes)
        known = labels >= 0
        onehot = np.eye(k)[labels[known]]
        nn = nearest_neighbors(Z, Z, self.neighbors, exclude_self=True) if self.neighbors else None
        zero_shot = AnchoredHead.zero_shot(self.prototypes_, scale=self.scale)

        def corpus_proba(head: AnchoredHead) -> npt.NDArray[np.float64]:
            p = head.proba(Z)
            p[known] = onehot
            if nn is not None and nn.shape[1]:
                p = (1 - self.smoothing) * p + self.smoothing * p[nn].mean(axis=1)
                p[known] = onehot
            return p

        head, proba = zero_shot, corpus_proba(zero_shot)
        for _ in range(self.self_train_rounds if len(Z) > k else 0):
            unlabeled = np.flatnonzero(~known)
            pseudo = unlabeled[confident_subset(proba[unlabeled], self.self_train_share)]
            rows = np.concatenate([pseudo, np.flatnonzero(known)])
            targets = proba[rows].argmax(axis=1)
            head = zero_shot.fit(Z[rows], targets, np.ones(len(rows)), self.prototypes_, l2=self.l2)
            proba = corpus_proba(head)
        self.head_ = head
        self._corpus = Z.astype(np.float32)
        self._corpus_proba = proba

    # -- prediction ---------------------------------------------------------------------
    def predict_proba(self, X: TextsLike) -> npt.NDArray[np.float64]:
        """``(n, k)`` class probabilities of texts, items or embeddings."""
        if self._nli is not None:
            if isinstance(X, np.ndarray):
                raise UserInputError("an NLI model needs texts, not embeddings")
            return self._nli.proba([item_text(t) for t in X])
        Z = self._as_embeddings(X)
        p = self.head_.proba(Z.astype(np.float64))
        if self._corpus is not None and self._corpus_proba is not None and self.neighbors:
            nn = nearest_neighbors(Z, self._corpus, self.neighbors, exclude_self=True)
            if nn.shape[1]:
                p = (1 - self.smoothing) * p + self.smoothing * self._corpus_proba[nn].mean(axis=1)
        return p

    def predict(
        self,
        items: Sequence[ItemLike],
        *,
        embeddings: npt.NDArray[np.floating[Any]] | None = None,
        progress: bool = False,
    ) -> PrelabelResult:
        """Draft a class for every item; an item without text is a recorded error.

        Parameters
        ----------
        items:
            Items (or bare texts) to draft.
        embeddings:
            Their cached embeddings ``(len(items), dim)``, to skip the embedding model.
        progress:
            Draw a progress bar.
        """
        if embeddings is not None and embeddings.shape[0] != len(items):
            raise ValidationError(
                f"embeddings has {embeddings.shape[0]} rows for {len(items)} items"
            )
        positions = list(range(len(items)))

        def batch_fn(batch: Sequence[int]) -> list[Draft | Exception]:
            if embeddings is not None:
                proba = self.predict_proba(embeddings[list(batch)])
            else:
                proba = self.predict_proba([item_text(items[i]) for i in batch])
            return [self._draft(row) for row in proba]

        return run_batches(
            positions,
            batch_fn,
            batch_size=self.batch_size,
            model=self.name,
            version=self.version,
            item_ids=[item_id(it) for it in items],
            progress=progress,
        )

    def _draft(self, proba: npt.NDArray[np.float64]) -> Draft:
        label = int(proba.argmax())
        score = float(proba[label])
        accepted = bool(self.calibration.accept(np.array([score]), np.array([label]))[0])
        return Draft(
            index=0,
            item_id=None,
            label=label,
            boxes=None,
            score=score,
            probs=tuple(float(p) for p in proba),
            needs_review=not accepted,
            model=self.name,
            version=self.version,
        )

    # -- helpers ------------------------------------------------------------------------
    def _as_embeddings(self, X: TextsLike) -> npt.NDArray[np.floating[Any]]:
        if isinstance(X, np.ndarray) and X.dtype.kind == "f":
            if X.ndim != 2 or X.shape[1] != self.embedder.dim:
                raise ValidationError(
                    f"embeddings must have shape (n, {self.embedder.dim}), got {X.shape}"
                )
            return X
        return self.embed(list(X))

    def _fingerprint(self) -> str:
        digest = hashlib.sha256(f"{self._base_version}\x00{self._template}".encode())
        for c in self.classes:
            digest.update(f"{c.name}\x00{c.description}\x00".encode())
        if self._nli is None:
            params = (self.scale, self.neighbors, self.smoothing, self.self_train_rounds,
                      self.self_train_share, self.l2)
            digest.update(repr(params).encode())
            digest.update(np.round(self.head_.W, 4).tobytes() + np.round(self.head_.b, 4).tobytes())
            if self._corpus_proba is not None:
                digest.update(np.round(self._corpus_proba, 3).tobytes())
        return f"{self._base_version}+{digest.hexdigest()[:10]}"


def _is_embedding_model(model: str) -> bool:
    if model in EMBEDDING_MODELS:
        return True
    return (Path(model) / "modules.json").is_file()


def _parse_classes(classes: ClassesLike) -> list[LabelClass]:
    if isinstance(classes, LabelSchema):
        return list(classes.classes)
    if isinstance(classes, Mapping):
        raw = [{"name": k, "description": v or ""} for k, v in classes.items()]
    else:
        raw = [c.model_dump() if isinstance(c, LabelClass) else {"name": c} for c in classes]
    return LabelSchema.parse({"task": "text-classification", "classes": raw}).classes


__all__ = ["ZeroShotTextClassifier"]
