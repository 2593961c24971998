"""Prodigy/spaCy JSONL and CoNLL BIO: import, export, round trips, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labelloop.errors import ImportValidationError
from labelloop.services.project import Project

ROWS = [
    {"text": "Ada Lovelace met Charles Babbage in London .",
     "spans": [{"start": 0, "end": 12, "label": "PER"}, {"start": 17, "end": 32, "label": "PER"},
               {"start": 36, "end": 42, "label": "LOC"}]},
    {"text": "Paris is big .", "spans": [{"start": 0, "end": 5, "label": "LOC"}]},
    {"text": "Nothing here .", "spans": []},
    {"text": "Skipped by the annotator .", "spans": [], "answer": "reject"},
]
CONLL = """-DOCSTART- -X- O O

Ada B-PER
Lovelace I-PER
met O
Charles B-PER
Babbage I-PER
in O
London B-LOC
. O

Paris B-LOC
is O
big O
. O

Nothing O
here O
. O

"""


def _spans(p: Project) -> dict[str, list[tuple[int, int, str]]]:
    texts = {it.id: it.text for it in p.items()}
    return {texts[a.item_id]: [s.key() for s in a.spans or []] for a in p.annotations()}


def test_prodigy_jsonl_and_conll_read_the_same_answers(tmp_path: Path) -> None:
    prodigy = tmp_path / "spans.jsonl"
    prodigy.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    conll = tmp_path / "spans.conll"
    conll.write_text(CONLL)
    with Project.create(tmp_path / "a", task="ner", labels=["PER", "LOC"]) as a:
        a.import_file(prodigy)  # a .jsonl of span rows: read as Prodigy rows
        assert a.status().items == 4
        from_prodigy = _spans(a)
    assert "Skipped by the annotator ." not in from_prodigy  # rejected: no answer
    with Project.create(tmp_path / "b", task="ner", labels=["PER", "LOC"]) as b:
        b.import_file(conll)
        assert _spans(b) == from_prodigy


def test_bad_spans_and_tags_are_reported_and_nothing_stored(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "Rome .", "spans": [[0, 4, "CITY"]]}) + "\n")
    conll = tmp_path / "bad.conll"
    conll.write_text("Rome B-CITY\n. O\n\nOslo X-LOC\n")
    with Project.create(tmp_path / "p", task="ner", labels=["PER", "LOC"]) as p:
        with pytest.raises(ImportValidationError, match=r"line 1.*'CITY' is not a class"):
            p.import_file(bad, format="prodigy")
        with pytest.raises(ImportValidationError, match=r"line 1, field 'tag'.*'CITY'") as err:
            p.import_file(conll)
        assert "'X-LOC' is not a BIO tag" in repr(err.value.report.problems)
        assert p.status().items == 0


def test_span_project_round_trips_through_every_span_format(tmp_path: Path) -> None:
    start = tmp_path / "start.jsonl"
    start.write_text("".join(json.dumps(r) + "\n" for r in ROWS[:3]))
    with Project.create(tmp_path / "p0", task="ner", labels=["PER", "LOC"]) as p:
        p.import_file(start, label_kind="gold")
        expected = _spans(p)
        path = tmp_path / "out0.jsonl"
        p.export(path)
    made = "jsonl"
    for n, fmt in enumerate(["prodigy", "conll", "jsonl", "prodigy"], start=1):
        with Project.create(tmp_path / f"p{n}", task="ner", labels=["PER", "LOC"]) as q:
            q.import_file(path, format=made)
            assert _spans(q) == expected, made
            path = tmp_path / f"out{n}.{'conll' if fmt == 'conll' else 'jsonl'}"
            q.export(path, format=fmt)
            made = fmt
    assert [json.loads(x) for x in path.read_text().splitlines()] == [
        {k: r[k] for k in ("text", "spans")} for r in ROWS[:3]]
