"""Pre-labeling: draft labels with a confidence before a human looks.

- :class:`ZeroShotTextClassifier`: zero-shot text by class description on an offline
  MiniLM (or a hub NLI model), adapted to the corpus and to human labels by ``fit``.
- :class:`ObjectDetector`: boxes from offline face/Haar/text detectors, DETR or YOLO-ONNX.
- :func:`calibrate_thresholds`: per-class thresholds so auto-accepted drafts reach a
  target precision with a Clopper-Pearson bound; :func:`calibrate_box_threshold` does the
  same for detection drafts (an image is right when its boxes match the human's).
- :class:`TextEmbedder`: the embeddings the store caches and active learning reuses.
- :func:`list_models`: built-in models and whether they are installed.
- :mod:`labelloop.prelabel.llm`: an LLM behind any OpenAI-compatible endpoint as a
  pre-labeler (``LLMClassifier``) or a labeling function (``llm_lf``).

Every pre-labeler follows the :class:`Prelabeler` protocol; heavy dependencies are
imported only when a model is loaded.
"""

from labelloop.prelabel.base import Draft, ItemError, Prelabeler, PrelabelResult
from labelloop.prelabel.calibrate import (
    Calibration,
    calibrate_box_threshold,
    calibrate_thresholds,
    clopper_pearson_lower,
)
from labelloop.prelabel.detect import ObjectDetector
from labelloop.prelabel.embeddings import TextEmbedder
from labelloop.prelabel.fake import FakePrelabeler
from labelloop.prelabel.registry import list_models
from labelloop.prelabel.text import ZeroShotTextClassifier

__all__ = [
    "Calibration",
    "Draft",
    "FakePrelabeler",
    "ItemError",
    "ObjectDetector",
    "PrelabelResult",
    "Prelabeler",
    "TextEmbedder",
    "ZeroShotTextClassifier",
    "calibrate_box_threshold",
    "calibrate_thresholds",
    "clopper_pearson_lower",
    "list_models",
]
