"""The exported training set says, per item, how its label was decided (issue 17)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from labelloop import Project
from labelloop.core.records import AnnotationRecord, ItemRecord, SourceKind


def test_every_export_line_says_how_its_label_was_decided(tmp_path: Path) -> None:
    with Project.create(tmp_path / "p", task="text-classification", labels=["ham", "spam"]) as p:
        ids = p.store.import_records(p.id, [ItemRecord(data={"text": f"t{i}"})
                                            for i in range(6)]).item_ids

        def vote(kind: str, name: str, pairs: list[tuple[int, int]], **kw: object) -> None:
            src = p.source(kind, name)
            p.add_annotations([AnnotationRecord(item_id=ids[i], source_id=src.id, label=c,
                                                **kw) for i, c in pairs])

        vote(SourceKind.GOLD, "ref", [(0, 1)])
        vote(SourceKind.HUMAN, "ann", [(0, 0), (1, 1), (2, 1)])
        vote(SourceKind.HUMAN, "bob", [(2, 0)])  # 1-1 on item 2: disputed
        vote(SourceKind.LABEL_MODEL, "lm", [(3, 1)], confidence=0.97)
        vote(SourceKind.LABEL_MODEL, "lm2", [(4, 0)], confidence=0.55, needs_review=True)
        p.export(tmp_path / "out.jsonl")
        p.export(tmp_path / "out.csv")
    lines = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    finals = [line["final"] for line in lines]
    assert [f and f["decided"] for f in finals] == [
        "gold", "human", "needs-review", "auto-accepted", "needs-review", None]
    assert finals[0]["label"] == "spam" and finals[0]["source"]["kind"] == "gold"
    assert finals[3]["confidence"] == 0.97 and finals[3]["source"]["name"] == "lm"
    assert len(lines[0]["annotations"]) == 2  # every source's vote stays beside it
    with (tmp_path / "out.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["decided"] for r in rows] == [
        "gold", "human", "needs-review", "auto-accepted", "needs-review", ""]


def test_labels_from_the_loop_name_the_round_that_decided_them(tmp_path: Path) -> None:
    """JSONL, CSV, Hugging Face and Label Studio exports credit the loop's posterior to the
    newest finished round; a person's or another label model's label has no round."""
    import datasets

    from labelloop.core.records import LOOP_SOURCE

    with Project.create(tmp_path / "p", task="text-classification", labels=["ham", "spam"]) as p:
        ids = p.store.import_records(p.id, [ItemRecord(data={"text": f"t{i}"})
                                            for i in range(4)]).item_ids
        human = p.source(SourceKind.HUMAN, "ann")
        loop = p.source(SourceKind.LABEL_MODEL, LOOP_SOURCE, "auto")
        other = p.source(SourceKind.LABEL_MODEL, "lm")
        for n in range(3):  # two rounds done, the newest one failed: round 2 decided
            rnd = p.store.begin_round(p.id, trigger="test", inputs={})
            if n == 2:
                p.store.fail_round(p.id, rnd.id, "boom", seconds=0.0)
                continue
            p.store.commit_round(p.id, rnd.id, annotations=[
                AnnotationRecord(item_id=ids[i], source_id=loop.id, label=1, confidence=0.99)
                for i in (0, 1)], priorities={}, changes={}, seconds=0.1)
            decided_by = rnd.id
        p.add_annotations([AnnotationRecord(item_id=ids[0], source_id=human.id, label=0),
                           AnnotationRecord(item_id=ids[2], source_id=other.id, label=1,
                                            confidence=0.99)])
        for name in ("out.jsonl", "out.csv", "out.json"):
            p.export(tmp_path / name, format="label-studio" if name == "out.json" else None)
        p.export(tmp_path / "hf", format="hf")
    expected = [None, decided_by, None, None]
    finals = [json.loads(x)["final"] for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [f and f["round"] for f in finals] == expected
    assert finals[1]["decided"] == "auto-accepted" and finals[0]["decided"] == "human"
    with (tmp_path / "out.csv").open(newline="", encoding="utf-8") as fh:
        assert [r["round"] for r in csv.DictReader(fh)] == ["", str(decided_by), "", ""]
    tasks = json.loads((tmp_path / "out.json").read_text())
    assert [t["meta"].get("final", {}).get("round") for t in tasks] == expected
    assert tasks[1]["meta"]["final"]["source"] == f"label_model:{LOOP_SOURCE}"
    ds = datasets.load_from_disk(str(tmp_path / "hf"))
    assert ds["label_round"] == [-1, decided_by, -1, -1]
    assert ds["label_decided"][:3] == ["human", "auto-accepted", "auto-accepted"]
    assert ds["label_source"][0] == "human:ann" and ds["label_decided"][3] is None
