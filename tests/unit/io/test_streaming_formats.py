"""Readers yield bounded batches and report every bad row at the end; writers give the same
bytes page by page as from a whole snapshot; the JSON array streamer matches json."""

from __future__ import annotations

import io
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labelloop.core import AnnotationRecord, Box, ItemRecord, LabelSchema
from labelloop.core.records import Snapshot, SourceRecord, occurrence_hash
from labelloop.errors import ImportValidationError
from labelloop.io import FORMATS, ImportOptions
from labelloop.io.csv_format import iter_csv
from labelloop.io.json_stream import JsonStreamError, iter_array, write_array
from labelloop.io.label_studio import iter_label_studio
from labelloop.io.seen import FirstSeen, Occurrences

CLASSES = ["cat", "dog", "bird"]
VALUES: list[Any] = [1, 12345, -3.5e10, 2.5e-7, "a\nb", "é ü", {"x": [1, 2, {"y": "é"}]},
                     [], {}, None, True, False, [[1], {"z": None}]]


def test_iter_array_matches_json_for_any_chunk_size() -> None:
    rng = random.Random(0)
    for _ in range(150):
        arr = [rng.choice(VALUES) for _ in range(rng.randint(0, 30))]
        text = json.dumps(arr, indent=rng.choice([None, 1, 2]))
        for chunk in (1, 2, 5, 64, 1 << 20):
            assert list(iter_array(io.StringIO(text), chunk=chunk)) == arr
    assert list(iter_array(io.StringIO(' {"a": [1]} '))) == [{"a": [1]}]


@pytest.mark.parametrize("text,line", [("[1,\n2,\n{\"a\" 3}]", 3), ("[1,\n2", 2),
                                       ("[1 2]", 1), ("[1,]", 1), ("[1]\nx", 2), ("", 1)])
def test_iter_array_reports_the_line_where_json_breaks(text: str, line: int) -> None:
    for chunk in (1, 3, 100):
        with pytest.raises(JsonStreamError) as err:
            list(iter_array(io.StringIO(text), chunk=chunk))
        assert err.value.line == line


def test_write_array_is_json_dumps_indent_1() -> None:
    rng = random.Random(1)
    for _ in range(50):
        arr = [rng.choice(VALUES) for _ in range(rng.randint(0, 10))]
        for ascii_ in (True, False):
            out = io.StringIO()
            assert write_array(out, iter(arr), ensure_ascii=ascii_) == len(arr)
            assert out.getvalue() == json.dumps(arr, indent=1, ensure_ascii=ascii_)


def test_first_seen_and_occurrences_survive_merges() -> None:
    seen = FirstSeen(young=4)
    for n in range(50):
        assert seen.first(f"k{n}", n * 7, n) is None
    for n in range(50):
        assert seen.first(f"k{n}", 0, 999) == (n * 7, n)
    occ = Occurrences()
    occ._seen = FirstSeen(young=3)
    hashes = [occ.hash_of(h) for h in ["a", "b", "a", "c", "d", "e", "a", "b"]]
    assert hashes == ["a", "b", occurrence_hash("a", 1), "c", "d", "e",
                      occurrence_hash("a", 2), occurrence_hash("b", 1)]


def _csv(path: Path, labels: list[str]) -> Path:
    path.write_text("text,label\n" + "".join(f"row {n},{lab}\n" for n, lab in enumerate(labels)),
                    encoding="utf-8")
    return path


def test_csv_batches_are_bounded_and_stop_at_the_first_problem(tmp_path: Path) -> None:
    schema = LabelSchema.from_labels("text-classification", CLASSES)
    good = _csv(tmp_path / "good.csv", ["cat"] * 10)
    sizes = [len(b.items) for b in iter_csv(good, schema, ImportOptions(), batch_size=4)]
    assert sizes == [4, 4, 2]
    bad = _csv(tmp_path / "bad.csv", ["cat"] * 5 + ["wolf"] + ["dog"] * 5 + ["fox"])
    got: list[tuple[int, int]] = []
    with pytest.raises(ImportValidationError) as err:
        for b in iter_csv(bad, schema, ImportOptions(), batch_size=4):
            got.append((len(b.items), b.rows))
    # the batch holding row 6 and every later one is withheld: only the rows read come
    assert got == [(4, 4), (0, 4), (0, 4)]
    assert [p.line for p in err.value.report.problems] == [7, 13]  # every bad row


def test_label_studio_reads_tasks_in_batches_and_names_the_broken_line(
        tmp_path: Path) -> None:
    schema = LabelSchema.from_labels("text-classification", CLASSES)
    tasks = [{"data": {"text": f"t{n}"}} for n in range(10)]
    path = tmp_path / "ls.json"
    path.write_text(json.dumps(tasks, indent=1), encoding="utf-8")
    sizes = [len(b.items) for b in iter_label_studio(path, schema, batch_size=3)]
    assert sizes == [3, 3, 3, 1]
    path.write_text(json.dumps(tasks, indent=1)[:-30], encoding="utf-8")
    with pytest.raises(ImportValidationError) as err:
        list(iter_label_studio(path, schema, batch_size=3))
    assert err.value.report.problems[0].line is not None
    assert "not valid JSON" in err.value.report.problems[0].problem


class _Pages:
    """A snapshot served one item per page, as storage's export stream does."""

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap
        self.sources = snap.sources
        self.loop_round: int | None = None
        self.passes = 0

    def pages(self, *, annotations: bool = True) -> Iterator[Snapshot]:
        self.passes += 1
        for it in self.snap.items:
            anns = [a for a in self.snap.annotations if a.item_id == it.id] if annotations else []
            yield Snapshot([it], self.sources, anns)

    def data_keys(self) -> list[str]:
        return list(dict.fromkeys(k for page in self.pages(annotations=False)
                                  for it in page.items for k in it.data))


def _snapshot(task: str) -> Snapshot:
    media = LabelSchema.from_labels(task, CLASSES).task_type.media
    items = [ItemRecord(id=n + 1, data={media: f"{media} {n}.png", **({"x": n} if n % 2 else {})},
                        split="train", width=100, height=80) for n in range(5)]
    srcs = [SourceRecord(id=1, kind="human", name="alice"),
            SourceRecord(id=2, kind="model", name="m", version="1")]
    anns = []
    for n in range(5):
        for s in (1, 2):
            if task == "object-detection":
                ans: dict[str, Any] = {"boxes": [Box(x=n, y=1, w=3, h=4, label=CLASSES[s])]}
            elif task == "multi-label-text":
                ans = {"labels": [n % 3]}
            else:
                ans = {"label": (n + s) % 3}
            if (n + s) % 4:
                anns.append(AnnotationRecord(item_id=n + 1, source_id=s, confidence=0.5, **ans))
    return Snapshot(items, srcs, anns)


CASES = [(f.name, task) for f in FORMATS.values() for task in sorted(f.writes)]


@pytest.mark.parametrize("name,task", CASES)
def test_writers_give_the_same_output_page_by_page(name: str, task: str,
                                                  tmp_path: Path) -> None:
    fmt = FORMATS[name]
    schema = LabelSchema.from_labels(task, CLASSES)
    snap = _snapshot(task)
    suffix = fmt.suffixes[0]
    whole, paged = tmp_path / f"whole{suffix}", tmp_path / f"paged{suffix}"
    pages = _Pages(snap)
    assert fmt.write(whole, snap, schema) == fmt.write(paged, pages, schema) == 5
    if fmt.folder:
        datasets = pytest.importorskip("datasets")
        a, b = datasets.load_from_disk(str(whole)), datasets.load_from_disk(str(paged))
        assert a.features == b.features and a.to_list() == b.to_list()
        return
    assert paged.read_bytes() == whole.read_bytes()
    if suffix == ".json":  # streamed JSON documents keep json.dumps(..., indent=1) bytes
        text = whole.read_text(encoding="utf-8")
        assert text == json.dumps(json.loads(text), indent=1, ensure_ascii=name == "coco")
