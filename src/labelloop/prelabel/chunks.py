"""Chunk functions of pre-labeling for :mod:`labelloop.exec` executors.

Each is a small picklable description of a model; the model itself is loaded once per
worker process (:func:`labelloop.exec.worker_cached`), so Dask workers and process pools
load it on their first chunk and reuse it for every later one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from labelloop.exec import worker_cached
from labelloop.prelabel.base import PrelabelResult
from labelloop.prelabel.detect import ObjectDetector
from labelloop.prelabel.embeddings import TextEmbedder


@dataclass(frozen=True)
class EmbedChunk:
    """Embeds the texts of a chunk with the sentence-embedding model ``model``."""

    model: str
    max_length: int = 128

    @property
    def key(self) -> str:
        """Names the loaded model in :func:`~labelloop.exec.worker_cached`."""
        return f"embedder:{self.model}:{self.max_length}"

    def __call__(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Unit-length ``(len(texts), dim)`` embeddings."""
        embedder = worker_cached(
            self.key, lambda: TextEmbedder(self.model, max_length=self.max_length)
        )
        return embedder.embed(list(texts))


@dataclass(frozen=True)
class DetectChunk:
    """Draws boxes on the images of a chunk with the detector ``model``."""

    model: str
    labels: tuple[tuple[str, str], ...] | None = None
    root: str | None = None
    review_threshold: float = 0.5

    @property
    def key(self) -> str:
        """Names the loaded detector in :func:`~labelloop.exec.worker_cached`."""
        return f"detector:{self.model}:{self.labels}:{self.root}:{self.review_threshold}"

    def __call__(self, payload: tuple[int, Sequence[Any]]) -> PrelabelResult:
        """Drafts of the items ``payload = (start, items)``, indexed from ``start``."""
        start, items = payload
        detector = worker_cached(self.key, self.load)
        result = detector.predict(list(items))
        result.drafts = [None if d is None else replace(d, index=d.index + start)
                         for d in result.drafts]
        result.errors = [replace(e, index=e.index + start) for e in result.errors]
        return result

    def load(self) -> ObjectDetector:
        """The detector, as this chunk function describes it."""
        return ObjectDetector(
            self.model, labels=dict(self.labels) if self.labels is not None else None,
            root=self.root, review_threshold=self.review_threshold,
        )
