"""IoU-matched box agreement on BCCD boxes, IoU checked against pycocotools."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from labelloop.errors import ValidationError
from labelloop.quality import box_agreement, box_iou

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"


@pytest.fixture(scope="module")
def bccd_image():
    path = DATA / "bccd-detection" / "BCCD" / "coco_val.json"
    if not path.exists():
        pytest.fail(f"BCCD not found at {path} (../shared/data beside the repo)")
    coco = json.loads(path.read_text())
    names = {c["id"]: c["name"] for c in coco["categories"]}
    image = coco["annotations"][0]["image_id"]
    anns = [a for a in coco["annotations"] if a["image_id"] == image]
    return np.array([a["bbox"] for a in anns], float), [names[a["category_id"]] for a in anns]


def test_iou_matches_pycocotools(bccd_image):
    mask = pytest.importorskip("pycocotools.mask")
    boxes, _ = bccd_image
    shifted = boxes + np.random.default_rng(0).normal(0, 4, boxes.shape).clip(-8, 8)
    shifted[:, 2:] = np.abs(shifted[:, 2:])
    expected = mask.iou(boxes.tolist(), shifted.tolist(), [0] * len(shifted))
    np.testing.assert_allclose(box_iou(boxes, shifted), expected, atol=1e-12)


def test_agreement_between_a_careful_and_a_sloppy_annotator(bccd_image):
    boxes, labels = bccd_image
    sloppy = boxes[1:].copy()  # missed the first box
    sloppy[:, :2] += 2  # and drew the rest 2 px off
    sloppy_labels = list(labels[1:])
    sloppy_labels[0] = "WBC" if sloppy_labels[0] != "WBC" else "RBC"  # one wrong class
    res = box_agreement(boxes, sloppy, labels_a=labels, labels_b=sloppy_labels)
    n = len(boxes)
    assert (res.n_a, res.n_b) == (n, n - 1)
    assert len(res.matches) == n - 2
    assert res.f1 == pytest.approx(2 * (n - 2) / (2 * n - 1))
    assert res.label_agreement == pytest.approx((n - 2) / (n - 1))
    assert 0.8 < res.mean_iou < 1
    geometry_only = box_agreement(
        boxes, sloppy, labels_a=labels, labels_b=sloppy_labels, match_labels=False
    )
    assert len(geometry_only.matches) == n - 1


def test_matching_is_one_to_one_and_edge_cases():
    a = [[0, 0, 10, 10]]
    b = [[0, 0, 10, 10], [1, 1, 10, 10]]
    res = box_agreement(a, b)
    assert res.matches == [(0, 0, 1.0)]
    assert box_agreement([], []).f1 == 1.0
    assert box_agreement(a, []).f1 == 0.0
    assert box_iou([[0, 0, 0, 0]], [[0, 0, 0, 0]])[0, 0] == 0.0
    with pytest.raises(ValidationError, match="negative"):
        box_iou([[0, 0, -1, 2]], a)
    with pytest.raises(ValidationError, match="iou_threshold"):
        box_agreement(a, b, iou_threshold=0)
