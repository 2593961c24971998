"""Zero-shot text classification with a hub NLI model (``transformers`` pipeline)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from labelloop._deps import require
from labelloop.prelabel._hub import hub_load_error, model_version
from labelloop.prelabel.embeddings import EMBEDDING_MODELS


class NLIZeroShot:
    """``pipeline("zero-shot-classification", model=NAME_OR_PATH)`` over class names.

    Parameters
    ----------
    model:
        Hub name (e.g. ``facebook/bart-large-mnli``) or local directory of a sequence
        classifier whose labels include ``entailment``.
    labels:
        Candidate labels in class order (the class names).
    hypothesis_template:
        Sentence each label is put into (``{}`` is replaced by the label).

    Raises
    ------
    ModelLoadError
        If the model cannot be loaded (offline and not cached, bad path, not NLI).
    """

    def __init__(
        self, model: str, labels: Sequence[str], *, hypothesis_template: str, batch_size: int
    ) -> None:
        transformers = require("models", "transformers", feature=f"NLI zero-shot with {model!r}")
        require("models", "torch", feature=f"NLI zero-shot with {model!r}")
        try:
            self._pipe = transformers.pipeline(
                "zero-shot-classification", model=model, tokenizer=model, device="cpu"
            )
        except Exception as exc:
            raise hub_load_error(model, exc, builtins=EMBEDDING_MODELS) from exc
        self._labels = list(labels)
        self._template = hypothesis_template
        self._batch_size = batch_size
        self.version = model_version(model, self._pipe.model.config)

    def proba(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        """``(n, k)`` probabilities over the labels (softmax of entailment scores)."""
        outputs: Any = self._pipe(
            list(texts),
            candidate_labels=self._labels,
            hypothesis_template=self._template,
            multi_label=False,
            batch_size=self._batch_size,
        )
        if isinstance(outputs, dict):
            outputs = [outputs]
        probs = np.zeros((len(outputs), len(self._labels)))
        for row, out in enumerate(outputs):
            for label, score in zip(out["labels"], out["scores"], strict=True):
                probs[row, self._labels.index(label)] = score
        total: npt.NDArray[np.float64] = probs.sum(axis=1, keepdims=True)
        return probs / total
