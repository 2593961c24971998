"""Contract every Prelabeler honours: aligned drafts, versions, per-item fault tolerance."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import pytest

from labelloop.core.records import ItemRecord
from labelloop.prelabel import FakePrelabeler, ObjectDetector, Prelabeler, ZeroShotTextClassifier

CLASSES = {"sports": "Sports news", "business": "Business news"}


def _text_items() -> list[ItemRecord]:
    return [
        ItemRecord(id=1, data={"text": "The team won the final."}),
        ItemRecord(id=2, data={"image": "no-text.png"}),
        ItemRecord(id=3, data={"text": "Stocks fell FAIL on Monday."}),
        ItemRecord(id=4, data={"text": "Profits rose at the bank."}),
    ]


def _image_items(root: Path) -> list[ItemRecord]:
    pil = pytest.importorskip("PIL.Image")
    pil.new("RGB", (40, 30), "white").save(root / "ok.png")
    (root / "bad.png").write_bytes(b"not an image")
    return [
        ItemRecord(id=1, data={"image": str(root / "ok.png")}),
        ItemRecord(id=2, data={"text": "no image"}),
        ItemRecord(id=3, data={"image": str(root / "bad.png")}),
        ItemRecord(id=4, data={"image": str(root / "ok.png")}),
    ]


@functools.cache
def _minilm() -> Prelabeler:
    pytest.importorskip("onnx")
    return ZeroShotTextClassifier(CLASSES)


def _haar() -> Prelabeler:
    pytest.importorskip("cv2")
    return ObjectDetector("haar-face")


# (factory, items kind, indices expected to fail)
CASES: dict[str, tuple[Callable[[], Prelabeler], str, list[int]]] = {
    "fake": (lambda: FakePrelabeler(2), "text", [1, 2]),
    "minilm": (_minilm, "text", [1]),
    "haar-face": (_haar, "image", [1, 2]),
}


@pytest.fixture(params=[pytest.param(n, marks=pytest.mark.slow) if n == "minilm" else n
                        for n in CASES])
def case(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Prelabeler, list, list[int]]:
    factory, kind, failing = CASES[request.param]
    items = _text_items() if kind == "text" else _image_items(tmp_path)
    return factory(), items, failing


def test_is_a_prelabeler_with_name_and_version(case: tuple) -> None:
    model, _, _ = case
    assert isinstance(model, Prelabeler)
    assert model.name and model.version


def test_drafts_align_with_items_and_failures_are_recorded(case: tuple) -> None:
    model, items, failing = case
    result = model.predict(items, progress=True)
    assert len(result.drafts) == len(items)
    assert [e.index for e in result.errors] == failing
    assert [e.item_id for e in result.errors] == [items[i].id for i in failing]
    for i, draft in enumerate(result.drafts):
        assert (draft is None) == (i in failing)
        if draft is not None:
            assert draft.index == i and draft.item_id == items[i].id
            assert 0.0 <= draft.score <= 1.0
            assert (draft.model, draft.version) == (model.name, model.version)
            assert (draft.label is None) != (draft.boxes is None)
    assert result.n_ok == len(items) - len(failing)


def test_empty_input_gives_an_empty_result(case: tuple) -> None:
    model, _, _ = case
    result = model.predict([])
    assert result.drafts == [] and result.errors == []


def test_prediction_is_deterministic(case: tuple) -> None:
    model, items, _ = case
    a, b = model.predict(items), model.predict(items)
    assert a.drafts == b.drafts
