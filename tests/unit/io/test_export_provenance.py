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
