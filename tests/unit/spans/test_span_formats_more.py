"""Label Studio ``labels``, spaCy DocBin and Hugging Face token classification for spans
projects: each round-trips a project unchanged (texts with odd whitespace and punctuation
included) and refuses bad input with the place and the fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from labelloop.errors import ImportValidationError
from labelloop.io import ImportOptions
from labelloop.services.project import Project

pytest.importorskip("spacy")

LABELS = ["PER", "ORG", "LOC"]
ROWS = [  # texts a whitespace tokenizer would not give back
    ("Dr. Ada  Lovelace\nworked at IBM, in São Paulo.",
     [(4, 17, "PER"), (28, 31, "ORG"), (36, 45, "LOC")]),
    ("  (Alan Turing) met the BBC;\tthen left.  ", [(3, 14, "PER"), (24, 27, "ORG")]),
    ("Nobody here.", []),
]
UNANSWERED = "Nobody asked about Paris yet."


def _start(tmp_path: Path) -> Path:
    lines = [json.dumps({"data": {"text": text}, "annotations": [
        {"source": {"kind": "gold", "name": "g"}, "spans": [list(s) for s in spans]}]})
        for text, spans in ROWS]
    lines.append(json.dumps({"data": {"text": UNANSWERED}}))
    data = tmp_path / "start.jsonl"
    data.write_text("\n".join(lines) + "\n")
    folder = tmp_path / "start"
    with Project.create(folder, task="ner", labels=LABELS) as p:
        p.import_file(data)
    return folder


def _answers(p: Project) -> dict[str, list[tuple[int, int, str]]]:
    """Each item's text and its answer; an item without one maps to None."""
    texts = {it.id: it.text or "" for it in p.items()}
    out: dict[str, Any] = dict.fromkeys(texts.values())
    out.update({texts[a.item_id]: sorted(s.key() for s in a.spans or [])
                for a in p.annotations()})
    return out


EXPECTED: dict[str, Any] = {text: sorted(spans) for text, spans in ROWS} | {UNANSWERED: None}


@pytest.mark.parametrize("fmt,suffix", [("label-studio", ".json"), ("spacy", ".spacy")])
def test_span_project_round_trips_through_the_file(fmt: str, suffix: str,
                                                   tmp_path: Path) -> None:
    folder = _start(tmp_path)
    out = tmp_path / f"out{suffix}"
    with Project.open(folder) as p:
        assert _answers(p) == EXPECTED
        p.export(out, format=fmt)
    with Project.create(tmp_path / "again", task="ner", labels=LABELS) as q:
        q.import_file(out, format=fmt)
        assert _answers(q) == EXPECTED
        again = tmp_path / f"again{suffix}"
        q.export(again, format=fmt)
    if fmt == "spacy":  # a second trip writes the same bytes
        assert again.read_bytes() == out.read_bytes()


def test_label_studio_keeps_sources_scores_and_the_labels_config(tmp_path: Path) -> None:
    from labelloop.core.records import AnnotationRecord, Span
    from labelloop.io.label_studio import label_config

    folder = _start(tmp_path)
    out = tmp_path / "ls.json"
    with Project.open(folder) as p:
        first = p.items()[0]
        model = p.source("model", "spacy-ner", "3.8.0")
        p.add_annotations([AnnotationRecord(
            item_id=int(first.id or 0), source_id=int(model.id or 0), confidence=0.4,
            needs_review=True, spans=[Span(start=4, end=17, label="PER", score=0.75)])])
        p.export(out, format="label-studio")
        assert label_config(p.schema).startswith('<View><Text name="text" value="$text"/>'
                                                 '<Labels name="label" toName="text">')
    task = json.loads(out.read_text())[0]
    (pred,) = task["predictions"]
    assert pred["model_version"] == "spacy-ner@3.8.0" and pred["score"] == 0.4
    assert pred["result"][0]["value"] == {"start": 4, "end": 17, "text": "Ada  Lovelace",
                                          "labels": ["PER"]}
    assert pred["result"][0]["score"] == 0.75
    assert task["annotations"][0]["ground_truth"] is True
    with Project.create(tmp_path / "q", task="ner", labels=LABELS) as q:
        q.import_file(out)
        (drafted,) = q.annotations(kinds=["model"])
        assert drafted.needs_review and drafted.confidence == 0.4
        assert [(s.key(), s.score) for s in drafted.spans or []] == [((4, 17, "PER"), 0.75)]


def test_bad_label_studio_spans_name_the_task_and_the_fix(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([
        {"data": {"text": "Rome is old."}, "annotations": [{"result": [
            {"type": "labels", "value": {"start": 0, "end": 4, "labels": ["CITY"]}}]}]},
        {"data": {"text": "Oslo."}, "annotations": [{"result": [
            {"type": "labels", "value": {"start": 0, "end": 40, "labels": ["LOC"]}}]}]},
        {"data": {"text": "Oslo."}, "annotations": [{"result": [
            {"type": "choices", "value": {"choices": ["LOC"]}}]}]},
    ]))
    with Project.create(tmp_path / "p", task="ner", labels=LABELS) as p:
        with pytest.raises(ImportValidationError) as err:
            p.import_file(bad)
        text = repr(err.value.report.problems)
        assert "task 1.annotations[0]" in text and "'CITY'" in text
        assert "task 2.annotations[0]" in text and "past the end of the text" in text
        assert "expected 'labels'" in text
        assert p.status().items == 0


def test_bad_docbin_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.spacy"
    bad.write_bytes(b"not a docbin")
    with (Project.create(tmp_path / "p", task="ner", labels=LABELS) as p,
          pytest.raises(ImportValidationError, match="not a spaCy DocBin file")):
        p.import_file(bad)


def test_hf_token_classification_export_reads_back_unchanged(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    from labelloop.io.hf_tokens import bio_names, read_hf_tokens

    folder = _start(tmp_path)
    out = tmp_path / "hf"
    with Project.open(folder) as p:
        p.export(out, format="hf")
        schema = p.schema
    ds = datasets.load_from_disk(str(out))
    assert ds.features["ner_tags"].feature.names == bio_names(schema) == [
        "O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
    row = ds[0]
    assert row["tokens"][:5] == ["Dr", ".", "Ada", "Lovelace", "worked"]
    assert row["ner_tags"][:5] == [0, 0, 1, 2, 0]
    parsed = read_hf_tokens(out, schema, ImportOptions())
    by_hash = {it.content_hash: it.data["text"] for it in parsed.items}
    got = {by_hash[a.content_hash]: sorted((s["start"], s["end"], s["label"])
                                           for s in a.spans or []) for a in parsed.annotations}
    # token classification has no "unanswered": that item reads back as all O
    assert got == EXPECTED | {UNANSWERED: []}
