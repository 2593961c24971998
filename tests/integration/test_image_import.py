"""Images named in a CSV: paths read from the CSV's folder, checked, sized at import; a box
project imported from CSV exports to COCO, Label Studio and CSV with its boxes."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from labelloop import Project
from labelloop.cli.app import app
from labelloop.core.records import AnnotationRecord, Box, SourceKind

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, list(args))
    return res.exit_code, res.output + (res.stderr if res.stderr_bytes else "")


def _png(path: Path, size: tuple[int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (200, 40, 40)).save(path)


@pytest.fixture
def boxes_project(tmp_path: Path) -> Path:
    folder = tmp_path / "shapes"
    code, out = run("init", str(folder), "--task", "object-detection", "--labels", "red,blue")
    assert code == 0, out
    return folder


@pytest.fixture
def data_folder(tmp_path: Path) -> Path:
    """A CSV whose image paths are relative to its own folder (not the project's)."""
    data = tmp_path / "incoming"
    _png(data / "imgs" / "a.png", (320, 240))
    _png(data / "imgs" / "b.jpg", (64, 48))
    (data / "rows.csv").write_text("image\nimgs/a.png\nimgs/b.jpg\n", encoding="utf-8")
    return data


def test_relative_paths_resolve_against_the_csv_and_sizes_are_stored(
        boxes_project: Path, data_folder: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # neither the project's folder nor the CSV's
    code, out = run("import", str(data_folder / "rows.csv"), "-p", str(boxes_project))
    assert code == 0, out
    with Project.open(boxes_project) as p:
        items = p.items()
        assert [(it.width, it.height) for it in items] == [(320, 240), (64, 48)]
        for it in items:  # the server finds the file: it lies in a media root
            assert p.image_file(it) == (data_folder / it.data["image"].split(
                "incoming/", 1)[1]).resolve()


def test_a_missing_or_non_image_file_is_reported_and_nothing_is_stored(
        boxes_project: Path, data_folder: Path) -> None:
    (data_folder / "imgs" / "notes.txt").write_text("hello", encoding="utf-8")
    (data_folder / "imgs" / "broken.png").write_bytes(b"not a png")
    bad = data_folder / "bad.csv"
    bad.write_text("image\nimgs/a.png\nimgs/missing.png\nimgs/notes.txt\nimgs/broken.png\n",
                   encoding="utf-8")
    code, out = run("import", str(bad), "-p", str(boxes_project))
    assert code != 0
    flat = " ".join(out.split())
    assert "row 2" in flat and "missing.png" in flat and "does not exist" in flat
    assert "row 3" in flat and "not an image file" in flat
    assert "row 4" in flat and "cannot be read as an image" in flat
    with Project.open(boxes_project) as p:
        assert p.store.count_items(p.id) == 0


def test_a_csv_imported_box_project_exports_everywhere_with_its_boxes(
        boxes_project: Path, data_folder: Path, tmp_path: Path) -> None:
    code, out = run("import", str(data_folder / "rows.csv"), "-p", str(boxes_project))
    assert code == 0, out
    with Project.open(boxes_project) as p:
        first = p.items()[0]
        src = p.source(SourceKind.HUMAN, "ann")
        p.add_annotations([AnnotationRecord(
            item_id=first.id, source_id=src.id,
            boxes=[Box(x=10, y=20, w=30, h=40, label="red"),
                   Box(x=50, y=60, w=20, h=10, label="blue")])])
    coco = tmp_path / "out.coco.json"
    code, out = run("export", str(coco), "-p", str(boxes_project), "--format", "coco")
    assert code == 0, out
    doc = json.loads(coco.read_text())
    assert sorted((i["width"], i["height"]) for i in doc["images"]) == [(64, 48), (320, 240)]
    assert sorted(a["bbox"] for a in doc["annotations"]) == [[10, 20, 30, 40], [50, 60, 20, 10]]
    ls = tmp_path / "out.ls.json"
    code, out = run("export", str(ls), "-p", str(boxes_project), "--format", "label-studio")
    assert code == 0, out
    assert "rectanglelabels" in ls.read_text()
    rows_csv = tmp_path / "out.csv"
    code, out = run("export", str(rows_csv), "-p", str(boxes_project), "--format", "csv")
    assert code == 0, out
    with rows_csv.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    boxes = json.loads(rows[0]["label"])
    assert [(b["x"], b["y"], b["w"], b["h"], b["label"]) for b in boxes] == [
        (10, 20, 30, 40, "red"), (50, 60, 20, 10, "blue")]
    assert rows[1]["label"] == ""
    assert os.path.isabs(rows[0]["image"])
