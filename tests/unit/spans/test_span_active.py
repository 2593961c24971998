"""Active learning on spans: item uncertainty from token posteriors, and
``labelloop prioritize`` on a spans project (span label model + sentence embeddings)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from labelloop.active.spans import item_token_proba, span_item_uncertainty
from labelloop.cli.app import app
from labelloop.errors import ValidationError
from labelloop.services.project import Project
from labelloop.services.span_active import refresh_span_priorities, span_posteriors
from labelloop.services.span_weak import apply_span_lfs_to_project
from labelloop.storage.models import ItemRow
from labelloop.weak.spans import dictionary_span_lf


def test_an_item_is_as_uncertain_as_its_least_sure_token() -> None:
    P = np.array([[1.0, 0.0, 0.0], [0.5, 0.3, 0.2],  # item 0: a doubtful token
                  [0.9, 0.1, 0.0], [0.95, 0.05, 0.0],  # item 1: fairly sure
                  [0.4, 0.35, 0.25]])  # item 2: one token, the least sure of all
    lengths = [2, 2, 0, 1]
    rows = item_token_proba(P, lengths)
    np.testing.assert_allclose(rows, [[0.5, 0.3, 0.2], [0.9, 0.1, 0.0], [1, 0, 0],
                                      [0.4, 0.35, 0.25]])
    lc = span_item_uncertainty(P, lengths)
    np.testing.assert_allclose(lc, [0.5, 0.1, 0.0, 0.6])
    mg = span_item_uncertainty(P, lengths, score="margin")
    np.testing.assert_allclose(mg, [0.8, 0.2, 0.0, 0.95])
    with pytest.raises(ValidationError, match="do not fit items of 4 tokens"):
        item_token_proba(P, [2, 2])
    with pytest.raises(ValidationError, match="score must be one of"):
        span_item_uncertainty(P, lengths, score="max")  # type: ignore[arg-type]


CITIES = ["London", "Paris", "Berlin", "Madrid", "Rome", "Vienna"]


def _project(tmp_path: Path) -> Path:
    rows = []
    for n in range(36):
        city = CITIES[n % 6]
        # every third text says "Paris Hilton": there the person-name LF and the city LF
        # disagree about the same token
        text = (f"Paris Hilton flew to {city} on day {n}." if n % 3 == 0
                else f"Ada Lovelace flew to {city} on day {n}.")
        anns = []
        if n < 6:
            start = text.index(city, 13)
            gold = [[0, 12, "PER"], [start, start + len(city), "LOC"]]
            anns = [{"source": {"kind": "gold", "name": "g"}, "spans": gold}]
        rows.append(json.dumps({"data": {"text": text}, "annotations": anns}))
    data = tmp_path / "items.jsonl"
    data.write_text("\n".join(rows) + "\n")
    folder = tmp_path / "p"
    with Project.create(folder, task="ner", labels=["PER", "LOC"]) as p:
        p.import_file(data)
    return folder


def test_prioritize_ranks_span_items_where_sources_disagree_first(tmp_path: Path) -> None:
    folder = _project(tmp_path)
    with Project.open(folder) as p:
        cold = refresh_span_priorities(p, strategy="hybrid", batch_size=4)
        assert not cold.model_fitted and cold.n_scored == 30  # diversity only, 6 labelled
        people = ["Paris Hilton", "Ada Lovelace"]
        lfs = [dictionary_span_lf(CITIES, "LOC", name="cities_a"),
               dictionary_span_lf(CITIES, "LOC", name="cities_b"),
               dictionary_span_lf(people, "PER", name="people_a"),
               dictionary_span_lf(people, "PER", name="people_b"),
               dictionary_span_lf(["Paris"], "PER", name="paris_is_a_person")]
        apply_span_lfs_to_project(p, lfs)
        ids, rows = span_posteriors(p)
        assert len(ids) == 36
        assert rows is not None and rows.shape == (36, 3)  # O, PER, LOC (IO tags)
    got = CliRunner().invoke(app, ["prioritize", "-p", str(folder), "--strategy", "margin",
                                   "--batch-size", "5"])
    assert got.exit_code == 0, got.output
    assert "scored 30 of 36 item(s) with margin (6 human-labeled" in got.output
    with Project.open(folder) as p:
        texts = {it.id: it.text or "" for it in p.items()}
        order = _queue_order(p)
        top = [texts[i] for i in order[:5]]
        # the contested token is "Paris": 3-2 in "Paris Hilton", 2-1 as a city
        assert all(t.startswith("Paris Hilton") for t in top), top
        assert all("Paris" in texts[i] for i in order[:15])
        assert not any("Paris" in texts[i] for i in order[15:])
        gold_ids = {a.item_id for a in p.annotations(kinds=["gold"])}
        assert not gold_ids & set(order)
    got = CliRunner().invoke(app, ["prioritize", "-p", str(folder), "--batch-size", "4"])
    assert got.exit_code == 0 and "with hybrid" in got.output, got.output
    with Project.open(folder) as p:
        top = [texts[i] for i in _queue_order(p)[:4]]
    # the four most uncertain all read "Paris Hilton flew to London/Madrid"; the hybrid
    # spreads its batch over clusters of the embeddings instead
    assert len({t.split(" on day")[0] for t in top}) >= 3, top


def _queue_order(project: Project) -> list[int]:
    """Item ids with a stored priority, highest first."""
    with project.store.engine.connect() as c:
        prio = dict(c.execute(select(ItemRow.id, ItemRow.priority)).all())
    return sorted((i for i, v in prio.items() if v is not None), key=lambda i: -prio[i])


def test_span_answers_count_as_human_labels(tmp_path: Path) -> None:
    from labelloop.core.records import AnnotationRecord, Span
    from labelloop.services.active import human_label_count

    with Project.open(_project(tmp_path)) as p:
        alice = p.source("human", "alice")
        first, second = p.items()[6:8]
        p.add_annotations([
            AnnotationRecord(item_id=int(first.id or 0), source_id=int(alice.id or 0),
                             spans=[Span(start=0, end=12, label="PER")]),
            AnnotationRecord(item_id=int(second.id or 0), source_id=int(alice.id or 0),
                             spans=[])])  # "no entity here" is an answer too
        assert human_label_count(p) == 2
        rep = refresh_span_priorities(p, strategy="margin", batch_size=3)
        assert rep.n_human_labels == 2 and rep.n_human_labeled == 8 and rep.n_scored == 28
