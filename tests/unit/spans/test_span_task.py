"""The ``spans`` task type: tokenizer, snapping, validation, storage, queue and JSONL."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from labelloop.cli.app import app
from labelloop.core import LabelSchema, task_type
from labelloop.core.records import AnnotationRecord, Span
from labelloop.core.spans import (
    char_spans,
    parse_spans,
    snap,
    spans_to_tags,
    tags_to_spans,
    token_spans,
    tokenize,
)
from labelloop.errors import ValidationError
from labelloop.services.project import Project
from labelloop.services.queue import LabelingQueue, answers_match

TEXT = "Ada Lovelace worked with Charles Babbage in London."
SCHEMA = LabelSchema.from_labels("ner", ["PER", "LOC"])
CB, LON = TEXT.index("Charles"), TEXT.index("London")  # 25, 44


def test_ner_is_an_alias_of_the_spans_task() -> None:
    assert SCHEMA.task == "spans" and task_type("ner") is task_type("spans")
    assert SCHEMA.task_type.has_spans and SCHEMA.task_type.media == "text"
    assert LabelSchema.from_labels("spans", ["ENT"]).k == 1  # one class is enough


def test_tokenizer_keeps_offsets_and_snapping_widens_to_tokens() -> None:
    tokens = tokenize(TEXT)
    assert [TEXT[a:b] for a, b in tokens][:3] == ["Ada", "Lovelace", "worked"]
    assert [TEXT[a:b] for a, b in tokens][-2:] == ["London", "."]
    assert snap(1, 6, tokens) == (0, 12)  # "da Lo" -> "Ada Lovelace"
    assert snap(3, 4, tokens) is None  # a space only
    assert snap(2, 5, tokens) == (0, 12)


def test_parse_spans_snaps_sorts_and_names_every_fault() -> None:
    got = SCHEMA.task_type.parse_answer(
        SCHEMA, {"spans": [{"start": 45, "end": 48, "label": "loc"},
                           [1, 6, 0], {"start": 25, "end": 39, "label": "PER"}]}, text=TEXT)
    assert got.spans == [Span(start=0, end=12, label="PER"), Span(start=25, end=40, label="PER"),
                         Span(start=44, end=50, label="LOC")]
    for raw, match in [
        ({"label": "PER"}, "needs 'spans': a list"),
        ({"spans": [{"start": 0, "end": 3}]}, "span 0: missing label"),
        ({"spans": [[0, 3, "ORG"]]}, r"span 0: label 'ORG' is not a class"),
        ({"spans": [[0, 99, "PER"]]}, "span 0: end 99 is past the end of the text"),
        ({"spans": [[5, 2, "PER"]]}, r"span 0: needs 0 <= start < end"),
        ({"spans": [[3, 4, "PER"]]}, "covers no word"),
        ({"spans": [[0, 12, "PER"], [4, 20, "LOC"]]}, "spans overlap: .*allow_overlap"),
    ]:
        with pytest.raises(ValidationError, match=match):
            SCHEMA.task_type.parse_answer(SCHEMA, raw, text=TEXT)
    both = parse_spans(SCHEMA, [[0, 12, "PER"], [4, 12, "LOC"]], TEXT, allow_overlap=True)
    assert [s.key() for s in both] == [(0, 12, "PER"), (4, 12, "LOC")]


@pytest.mark.parametrize("scheme", ["IO", "BIO"])
def test_tags_round_trip_token_spans(scheme: str) -> None:
    tokens = tokenize(TEXT)
    spans = token_spans([(0, 12, 0), (25, 40, 0), (44, 50, 1)], tokens)
    assert spans == [(0, 2, 0), (4, 6, 0), (7, 8, 1)]
    tags = spans_to_tags(spans, len(tokens), scheme=scheme)  # type: ignore[arg-type]
    assert tags_to_spans(tags, scheme=scheme) == spans  # type: ignore[arg-type]
    assert char_spans(spans, tokens) == [(0, 12, 0), (25, 40, 0), (44, 50, 1)]
    # BIO keeps adjacent entities of one class apart; a stray I starts a span
    assert tags_to_spans([1, 2, 1, 0, 2, 2], scheme="BIO") == [(0, 2, 0), (2, 3, 0), (4, 6, 0)]


def test_spans_are_stored_submitted_and_compared(tmp_path: Path) -> None:
    data = tmp_path / "items.jsonl"
    data.write_text(json.dumps({"text": TEXT}) + "\n" + json.dumps({"text": "Paris."}) + "\n")
    with Project.create(tmp_path / "p", task="ner", labels=["PER", "LOC"]) as p:
        p.import_file(data)
        user = p.store.create_user("ann", "annotator", "x")
        queue = LabelingQueue(p.store, p.info, random.Random(0))
        item = next(it for it in p.items() if it.text == TEXT)
        with pytest.raises(ValidationError, match="spans overlap"):
            queue.submit(user, item.id, {"spans": [[0, 12, "PER"], [4, 12, "LOC"]]})
        done = queue.submit(user, item.id, {"spans": [[1, 5, "PER"], [45, 49, "LOC"]]})
        stored = p.annotations(kinds=["human"])
        assert [s.key() for s in stored[0].spans or []] == [(0, 12, "PER"), (44, 50, "LOC")]
        assert answers_match(done.annotation, stored[0])
        other = AnnotationRecord(item_id=item.id, source_id=1, spans=[Span(start=0, end=12,
                                                                           label="LOC")])
        assert not answers_match(stored[0], other)
        with pytest.raises(ValidationError, match="span label 'ORG' is not a class"):
            p.add_annotations([AnnotationRecord(item_id=item.id, source_id=stored[0].source_id,
                                                spans=[Span(start=0, end=3, label="ORG")])])
        out = tmp_path / "out.jsonl"
        p.export(out)
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    spans = [a["spans"] for line in lines for a in line["annotations"]]
    assert spans == [[{"start": 0, "end": 12, "label": "PER"}, {"start": 44, "end": 50,
                                                                 "label": "LOC"}]]
    with Project.create(tmp_path / "q", task="spans", labels=["PER", "LOC"]) as q:
        q.import_file(out)
        back = q.annotations()
        assert [s.key() for s in back[0].spans or []] == [(0, 12, "PER"), (44, 50, "LOC")]
        q.export(tmp_path / "again.jsonl")
    again = [json.loads(x) for x in (tmp_path / "again.jsonl").read_text().splitlines()]
    strip = [{k: v for k, v in line.items() if k != "id"} for line in lines]
    assert [{k: v for k, v in line.items() if k != "id"} for line in again] == strip


def test_jsonl_import_rejects_spans_outside_the_text(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"data": {"text": "Paris."}, "annotations": [
        {"source": {"kind": "gold", "name": "g"}, "spans": [[0, 40, "LOC"]]}]}) + "\n")
    with Project.create(tmp_path / "p", task="spans", labels=["LOC"]) as p:
        with pytest.raises(ValidationError, match="past the end of the text"):
            p.import_file(bad)
        assert p.status().items == 0


def test_cli_init_takes_task_ner(tmp_path: Path) -> None:
    got = CliRunner().invoke(app, ["init", str(tmp_path / "ner"), "--task", "ner",
                                   "--labels", "PER,ORG,LOC"])
    assert got.exit_code == 0, got.output
    assert "(spans: PER, ORG, LOC)" in got.output
    with Project.open(tmp_path / "ner") as p:
        assert p.schema.task == "spans" and p.settings.allow_overlap is False
