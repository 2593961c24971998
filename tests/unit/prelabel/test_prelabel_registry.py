"""list_models: built-in names, tasks and whether each is installed."""

from __future__ import annotations

import pytest

from labelloop.prelabel import list_models
from labelloop.prelabel.registry import ModelInfo


def test_lists_every_builtin_once_with_its_task() -> None:
    rows = list_models()
    names = [r["name"] for r in rows]
    assert len(names) == len(set(names))
    assert {"minilm", "minilm-torch", "faces", "haar-face", "text", "spacy-ner"} <= set(names)
    assert {r["task"] for r in rows} == {"text-classification", "object-detection", "spans"}


def test_installed_reflects_importable_modules() -> None:
    assert ModelInfo("x", "t", "d", ("json",)).installed
    assert not ModelInfo("y", "t", "d", ("json", "surely_not_a_module_xyz")).installed
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    assert next(r for r in list_models() if r["name"] == "minilm")["installed"] is True
