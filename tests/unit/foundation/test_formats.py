"""The FORMATS table: every format round-trips the task types it claims; other pairs fail
with one message naming the formats that can."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, get_args

import pytest

from labelloop import io
from labelloop.core import AnnotationRecord, Box, ItemRecord, LabelSchema
from labelloop.core.records import Snapshot, SourceRecord, Span
from labelloop.core.tasks import TASK_TYPES
from labelloop.errors import UserInputError, ValidationError
from labelloop.io import FORMATS, ImportOptions, ParsedImport
from labelloop.io.formats import Format, detect_export_format, detect_import_format, get_format

CLASSES = ["cat", "dog", "bird"]


def _answer(task: str, n: int) -> dict[str, Any]:
    if task == "object-detection":
        return {"boxes": [Box(x=n, y=1, w=10 + n, h=5, label=CLASSES[n % 3]),
                          Box(x=0, y=0, w=3, h=4, label="dog")][: 1 + n % 2]}
    if task == "spans":  # items read "text N png"
        return {"spans": [Span(start=0, end=4, label=CLASSES[n % 3]),
                          Span(start=5, end=6, label="dog")][: 1 + n % 2]}
    if task == "multi-label-text":
        return {"labels": sorted({n % 3, (n + 1) % 3})}
    return {"label": n % 3}


def _snapshot(task: str) -> Snapshot:
    media = LabelSchema.from_labels(task, CLASSES).task_type.media
    # span texts are whitespace-tokenized, as CoNLL keeps them
    text = "{} {} png" if task == "spans" else "{}  {}.png"
    items = [ItemRecord(id=n + 1, data={media: text.format(media, n).replace("  ", " ")},
                        split="train", width=100, height=80) for n in range(4)]
    human = SourceRecord(id=1, kind="human", name="alice")
    anns = [AnnotationRecord(item_id=n + 1, source_id=1, **_answer(task, n)) for n in range(4)]
    return Snapshot(items=items, sources=[human], annotations=anns)


def _canonical_snapshot(snap: Snapshot, media: str) -> set[tuple[Any, ...]]:
    by_item = {it.id: Path(str(it.data[media])).name for it in snap.items}
    return {(by_item[a.item_id], a.label, tuple(a.labels or ()),
             tuple((b.x, b.y, b.w, b.h, b.label) for b in a.boxes or ()),
             tuple(sp.key() for sp in a.spans or ()))
            for a in snap.annotations}


def _canonical_parsed(parsed: ParsedImport, media: str) -> set[tuple[Any, ...]]:
    by_hash = {it.content_hash: Path(str(it.data[media])).name for it in parsed.items}
    return {(by_hash[a.content_hash], a.label, tuple(a.labels or ()),
             tuple((b["x"], b["y"], b["w"], b["h"], b["label"]) for b in a.boxes or ()),
             tuple((sp["start"], sp["end"], sp["label"]) for sp in a.spans or ()))
            for a in parsed.annotations}


def _read_back(fmt: Format, path: Path, schema: LabelSchema) -> ParsedImport:
    if fmt.reads:
        return fmt.read(path, schema, ImportOptions())
    datasets = pytest.importorskip("datasets")  # hf: a folder read back with datasets
    if schema.task_type.has_spans:
        from labelloop.io.hf_tokens import read_hf_tokens

        return read_hf_tokens(path, schema, ImportOptions())
    from labelloop.io.hf_datasets import read_dataset

    return read_dataset(datasets.load_from_disk(str(path)), schema, ImportOptions())


ROUND_TRIPS = [(f.name, task) for f in FORMATS.values() for task in TASK_TYPES
               if task in f.writes and (task in f.reads or not f.reads)]


@pytest.mark.parametrize("name,task", ROUND_TRIPS)
def test_every_format_round_trips_the_tasks_it_claims(name: str, task: str,
                                                      tmp_path: Path) -> None:
    fmt = FORMATS[name]
    schema = LabelSchema.from_labels(task, CLASSES)
    snap = _snapshot(task)
    path = tmp_path / f"out{fmt.suffixes[0]}"
    assert fmt.write(path, snap, schema) == 4
    assert not list(tmp_path.glob(".*.tmp"))
    parsed = _read_back(fmt, path, schema)
    media = schema.task_type.media
    assert len(parsed.items) == 4
    assert _canonical_parsed(parsed, media) == _canonical_snapshot(snap, media)


def test_every_task_type_has_formats_both_ways() -> None:
    for task in TASK_TYPES:
        assert any(task in f.reads and task in f.writes for f in FORMATS.values()), task
    assert {("jsonl", "object-detection"), ("csv", "object-detection"),
            ("hf", "multi-label-text")} <= set(ROUND_TRIPS)


@pytest.mark.parametrize("name,task,direction,able", [
    ("coco", "text-classification", "import", "csv, jsonl, label-studio"),
    ("hf", "object-detection", "export", "csv, jsonl, label-studio, coco"),
])
def test_unsupported_pair_names_the_formats_that_can(name: str, task: str, direction: str,
                                                     able: str, tmp_path: Path) -> None:
    fmt, schema = FORMATS[name], LabelSchema.from_labels(task, CLASSES)
    with pytest.raises(ValidationError) as err:
        if direction == "import":
            fmt.read(tmp_path / "x.json", schema, ImportOptions())
        else:
            fmt.write(tmp_path / "x", _snapshot(task), schema)
    assert str(err.value) == f"{name} cannot {direction} {task} projects; formats that can: {able}"
    assert not list(tmp_path.iterdir())  # nothing written


def test_project_export_refuses_a_lossy_pair_before_writing(tmp_path: Path) -> None:
    from labelloop import Project

    with Project.create(tmp_path / "p", task="object-detection", labels=["cell"]) as p:
        with pytest.raises(ValidationError, match="hf cannot export object-detection"):
            p.export(tmp_path / "boxes", format="hf")
        with pytest.raises(UserInputError, match="unknown export format 'xml'; use one of csv"):
            p.export(tmp_path / "boxes.xml", format="xml")
    assert not (tmp_path / "boxes").exists()


def test_suffixes_pick_formats(tmp_path: Path) -> None:
    coco = tmp_path / "a.json"
    coco.write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
    ls = tmp_path / "b.json"
    ls.write_text(json.dumps([{"data": {"text": "x"}}]))
    broken = tmp_path / "c.json"
    broken.write_text("{not json")
    picks = {p.name: detect_import_format(p).name
             for p in (coco, ls, broken, tmp_path / "d.TSV", tmp_path / "e.ndjson")}
    assert picks == {"a.json": "coco", "b.json": "label-studio", "c.json": "label-studio",
                     "d.TSV": "csv", "e.ndjson": "jsonl"}
    assert io.detect_format(coco) == "coco"
    with pytest.raises(UserInputError,
                       match=r"pass --format \(csv, jsonl, label-studio, coco, prodigy, conll, "
                             r"spacy\)"):
        detect_import_format(tmp_path / "f.xlsx")
    assert detect_export_format(tmp_path / "out").name == "hf"
    assert detect_export_format(tmp_path / "out.jsonl").name == "jsonl"  # prodigy: by name
    assert detect_export_format(tmp_path / "out.conll").name == "conll"
    with pytest.raises(UserInputError, match="ambiguous: pass --format label-studio or coco"):
        detect_export_format(tmp_path / "out.json")
    with pytest.raises(UserInputError, match="cannot tell the export format"):
        detect_export_format(tmp_path / "out.xml")


def test_format_lists_and_literals_come_from_the_table() -> None:
    assert io.IMPORT_FORMATS == ("csv", "jsonl", "label-studio", "coco", "prodigy", "conll",
                                 "spacy")
    assert io.EXPORT_FORMATS == ("csv", "jsonl", "label-studio", "coco", "hf", "prodigy",
                                 "conll", "spacy")
    assert get_args(io.ImportFormat) == io.IMPORT_FORMATS
    assert get_args(io.ExportFormat) == io.EXPORT_FORMATS
    assert get_args(io.FileExportFormat) == tuple(
        f.name for f in FORMATS.values() if f.writes and not f.folder)
    with pytest.raises(UserInputError, match="unknown import format 'hf'"):
        get_format("hf", "import")


def test_a_format_row_without_its_function_is_refused() -> None:
    with pytest.raises(ValueError, match="need a reader"):
        Format("odd", (".odd",), reads=frozenset({"text-classification"}), writes=frozenset())
