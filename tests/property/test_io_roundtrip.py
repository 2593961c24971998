"""Label Studio and COCO exports round-trip losslessly and pass their reference readers."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from labelloop import Project
from labelloop.core import AnnotationRecord

CLASSES = ["ham", "spam", "other"]
KINDS = ["human", "gold", "model", "label_model"]
SETTINGS = settings(max_examples=15, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
                min_size=1, max_size=40).filter(lambda s: s.strip() == s and s)


@st.composite
def text_projects(draw: Any) -> dict[str, Any]:
    items = draw(st.lists(texts, min_size=1, max_size=8, unique=True))
    sources = draw(st.lists(st.tuples(st.sampled_from(KINDS),
                                      st.text("abcdefgh", min_size=1, max_size=6)),
                            min_size=1, max_size=4, unique=True))
    anns = []
    for i in range(len(items)):
        for j, (kind, _) in enumerate(sources):
            if draw(st.booleans()):
                conf = (draw(st.floats(0, 1, allow_nan=False))
                        if kind in ("model", "label_model") else None)
                review = draw(st.booleans()) if kind in ("model", "label_model") else False
                anns.append((i, j, draw(st.integers(0, len(CLASSES) - 1)), conf, review))
    splits = draw(st.lists(st.sampled_from(["train", "valid", "test", "unassigned"]),
                           min_size=len(items), max_size=len(items)))
    return {"items": items, "sources": sources, "anns": anns, "splits": splits}


def _build_text(folder: Path, spec: dict[str, Any]) -> Project:
    p = Project.create(folder, task="text-classification", labels=CLASSES)
    rows = [{"text": t, "split": s} for t, s in zip(spec["items"], spec["splits"], strict=True)]
    import pandas as pd

    ids = p.import_dataframe(pd.DataFrame(rows), label_column="").item_ids
    srcs = [p.source(k, n, "1" if k in ("model", "label_model") else "")
            for k, n in spec["sources"]]
    p.add_annotations([
        AnnotationRecord(item_id=ids[i], source_id=srcs[j].id, label=lab, confidence=conf,
                         needs_review=review)
        for i, j, lab, conf, review in spec["anns"]
    ])
    return p


def _canonical(p: Project) -> tuple[Any, Any]:
    items = {i.id: (i.text, i.split) for i in p.items()}
    srcs = {s.id: (s.kind, s.name, s.version) for s in p.sources()}
    anns = sorted(
        (items[a.item_id], srcs[a.source_id], a.label, a.labels,
         None if a.confidence is None else round(a.confidence, 9), a.needs_review,
         tuple((round(b.x, 6), round(b.y, 6), round(b.w, 6), round(b.h, 6), b.label)
               for b in a.boxes or ()))
        for a in p.annotations()
    )
    return sorted(items.values()), anns


@pytest.mark.slow
@SETTINGS
@given(spec=text_projects())
def test_label_studio_round_trip(spec: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        with _build_text(tmp / "a", spec) as p:
            out = p.export(tmp / "tasks.json", format="label-studio")
            before = _canonical(p)
        with Project.create(tmp / "b", task="text-classification", labels=CLASSES) as q:
            q.import_file(out)
            assert _canonical(q) == before


def test_label_studio_export_passes_the_sdk(tmp_path: Path) -> None:
    from label_studio_sdk.label_interface import LabelInterface

    from labelloop.io.label_studio import label_config

    spec = {"items": ["a <b>c</b>", "second"], "sources": [("human", "ann"), ("model", "zs")],
            "anns": [(0, 0, 1, None, False), (0, 1, 2, 0.4, True), (1, 1, 0, 0.9, False)],
            "splits": ["train", "test"]}
    with _build_text(tmp_path / "a", spec) as p:
        out = p.export(tmp_path / "tasks.json", format="label-studio")
        li = LabelInterface(label_config(p.schema))
    tasks = json.loads(out.read_text())
    assert len(tasks) == 2
    for task in tasks:
        assert task["data"]["text"]
        for ann in task["annotations"]:
            assert li.validate_annotation(ann)
        for pred in task["predictions"]:
            assert li.validate_prediction(pred)
    bad = {"result": [{"from_name": "label", "to_name": "text", "type": "choices",
                       "value": {"choices": ["not-a-class"]}}]}
    assert not li.validate_annotation(bad)


@st.composite
def detection_projects(draw: Any) -> list[tuple[int, int, list[tuple[float, ...]]]]:
    n = draw(st.integers(1, 5))
    out = []
    for _ in range(n):
        w, h = draw(st.integers(8, 400)), draw(st.integers(8, 400))
        boxes = []
        for _ in range(draw(st.integers(0, 4))):
            x = draw(st.integers(0, w - 2))
            y = draw(st.integers(0, h - 2))
            bw = draw(st.integers(1, w - x))
            bh = draw(st.integers(1, h - y))
            boxes.append((float(x), float(y), float(bw), float(bh), draw(st.integers(0, 1))))
        out.append((w, h, boxes))
    return out


def _build_det(folder: Path, spec: list[tuple[int, int, list[tuple[float, ...]]]]) -> Project:
    p = Project.create(folder, task="object-detection", labels=["rbc", "wbc"])
    for n, (w, h, _) in enumerate(spec):  # imports check that every image is there
        Image.new("L", (w, h)).save(folder / f"img{n}.png")
    coco = {
        "images": [{"id": n + 1, "file_name": f"img{n}.png", "width": w, "height": h}
                   for n, (w, h, _) in enumerate(spec)],
        "categories": [{"id": 1, "name": "rbc"}, {"id": 2, "name": "wbc"}],
        "annotations": [],
    }
    for n, (_, _, boxes) in enumerate(spec):
        for x, y, bw, bh, c in boxes:
            coco["annotations"].append({"id": len(coco["annotations"]) + 1, "image_id": n + 1,
                                        "category_id": int(c) + 1, "bbox": [x, y, bw, bh]})
    src = folder / "in.json"
    src.write_text(json.dumps(coco))
    p.import_file(src, label_kind="gold", label_source="truth")
    return p


@SETTINGS
@given(spec=detection_projects())
def test_coco_round_trip(spec: list[tuple[int, int, list[tuple[float, ...]]]]) -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        with _build_det(tmp / "a", spec) as p:
            out = p.export(tmp / "out.json", format="coco")
            before = _canonical(p)
            ls_out = p.export(tmp / "ls.json", format="label-studio")
        with Project.create(tmp / "a" / "b", task="object-detection",
                            labels=["rbc", "wbc"]) as q:
            q.import_file(out, label_kind="gold", label_source="truth", image_root=tmp / "a")
            assert _canonical(q) == before
        with Project.create(tmp / "c", task="object-detection", labels=["rbc", "wbc"]) as r:
            r.import_file(ls_out)
            assert _canonical(r) == before


def test_coco_export_passes_pycocotools(tmp_path: Path) -> None:
    coco_api = pytest.importorskip("pycocotools.coco")
    spec = [(100, 80, [(1.0, 2.0, 30.0, 40.0, 0), (50.0, 10.0, 20.0, 20.0, 1)]),
            (64, 64, [])]
    with _build_det(tmp_path / "a", spec) as p:
        out = p.export(tmp_path / "out.json", format="coco")
    coco = coco_api.COCO(str(out))
    assert sorted(coco.getImgIds()) == [1, 2]
    assert sorted(coco.getCatIds()) == [1, 2]
    anns = coco.loadAnns(coco.getAnnIds(imgIds=[1]))
    assert [a["bbox"] for a in anns] == [[1.0, 2.0, 30.0, 40.0], [50.0, 10.0, 20.0, 20.0]]
    assert min(a["id"] for a in coco.dataset["annotations"]) == 1
    assert coco.getAnnIds(imgIds=[2]) == []


def test_bccd_coco_file_imports(shared_data: Path, tmp_path: Path) -> None:
    files = sorted((shared_data / "bccd-detection").rglob("*.json"))
    assert files, "BCCD COCO json not found"
    raw = json.loads(files[0].read_text())
    names = [c["name"] for c in raw["categories"]]
    with Project.create(tmp_path / "bccd", task="object-detection", labels=names) as p:
        res = p.import_file(files[0], label_kind="gold")
        assert res.added == len(raw["images"])
        n_boxes = sum(len(a.boxes or []) for a in p.annotations())
        assert n_boxes == len(raw["annotations"])
