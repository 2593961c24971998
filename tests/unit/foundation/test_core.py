"""Core data model: schema validation, label matrix converters, the error envelope."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

import labelloop
from labelloop.core import (
    ABSTAIN,
    ItemRecord,
    LabelSchema,
    check_label_matrix,
    long_to_matrix,
    matrix_to_long,
)
from labelloop.errors import ImportReport, ImportValidationError, NotFoundError, ValidationError


def test_public_api() -> None:
    assert labelloop.ABSTAIN == ABSTAIN == -1
    for name in labelloop.__all__:
        assert hasattr(labelloop, name), name
    assert {"Project", "ABSTAIN"} <= set(labelloop.__all__)
    for method in ("create", "open", "import_file", "export", "items"):
        assert callable(getattr(labelloop.Project, method))


def test_schema_accepts_names_and_descriptions() -> None:
    s = LabelSchema.parse({"task": "text-classification",
                           "classes": {"ham": "a real comment", "spam": "promotion"}})
    assert s.names == ["ham", "spam"]
    assert s.index_of("SPAM") == 1 and s.index_of("0") == 0 and s.index_of(1) == 1
    with pytest.raises(ValidationError, match="not a class"):
        s.index_of("eggs")
    with pytest.raises(ValidationError, match="out of range"):
        s.index_of(2)


@pytest.mark.parametrize("raw,match", [
    ({"task": "text-classification", "classes": ["a", "a"]}, "repeated: a"),
    ({"task": "text-classification", "classes": ["only"]}, "at least two"),
    ({"task": "poetry", "classes": ["a", "b"]}, "unknown task"),
    ({"task": "text-classification", "classes": ["a", " "]}, "blank"),
    ("not a mapping", "must be a mapping"),
])
def test_bad_schemas_say_what_is_wrong(raw: object, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        LabelSchema.parse(raw)


def test_content_hash_ignores_key_order_and_meta() -> None:
    a = ItemRecord(data={"text": "hi", "author": "x"}, meta={"batch": 1})
    b = ItemRecord(data={"author": "x", "text": "hi"}, meta={"batch": 2})
    c = ItemRecord(data={"text": "hi!", "author": "x"})
    assert a.content_hash == b.content_hash != c.content_hash


def test_long_and_wide_round_trip() -> None:
    L = np.array([[0, -1, 1], [-1, -1, -1], [2, 2, -1]])
    rows = matrix_to_long(L, item_ids=["a", "b", "c"], source_ids=["x", "y", "z"])
    assert rows == [("a", "x", 0), ("a", "z", 1), ("c", "x", 2), ("c", "y", 2)]
    back = long_to_matrix(*zip(*rows, strict=True), items=["a", "b", "c"],
                          sources=["x", "y", "z"])
    np.testing.assert_array_equal(back.L, L)


@pytest.mark.parametrize("bad,match", [
    (np.zeros(3), "2-D"),
    (np.array([[0.5, 1.0]]), "integer"),
    (np.array([[-2, 0]]), "ABSTAIN"),
])
def test_check_label_matrix_rejects(bad: np.ndarray, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        check_label_matrix(bad)
    with pytest.raises(ValidationError, match="k=2"):
        check_label_matrix([[0, 2]], k=2)


def test_error_envelope_and_statuses() -> None:
    report = ImportReport()
    report.add("f.csv", 3, "label", "unknown class 'x'", "add it to the schema")
    report.add("f.csv", 9, "text", "empty", "remove the row")
    err = ImportValidationError(report)
    env = err.to_envelope()
    assert env["error"]["code"] == "import_validation_error"
    assert "f.csv, line 3, field 'label'" in env["error"]["message"]
    assert "1 more problem" in env["error"]["message"]
    assert len(env["error"]["details"]) == 2
    assert err.http_status == 422 and err.exit_code == 2
    assert NotFoundError("x").http_status == 404


def test_final_labels_precedence_and_newest_model_version() -> None:
    from labelloop.core import AnnotationRecord, SourceRecord
    from labelloop.io.common import final_labels

    items = [ItemRecord(id=i, data={"text": str(i)}) for i in (1, 2, 3)]
    srcs = [
        SourceRecord(id=1, kind="model", name="minilm", version="a"),
        SourceRecord(id=2, kind="model", name="minilm", version="b"),
        SourceRecord(id=3, kind="human", name="ann1"),
        SourceRecord(id=4, kind="human", name="ann2"),
        SourceRecord(id=5, kind="human", name="ann3"),
        SourceRecord(id=6, kind="gold", name="gold"),
    ]
    anns = [
        AnnotationRecord(item_id=1, source_id=1, label=0),
        AnnotationRecord(item_id=1, source_id=2, label=1),  # newer draft wins
        AnnotationRecord(item_id=2, source_id=1, label=0),
        AnnotationRecord(item_id=2, source_id=3, label=1),
        AnnotationRecord(item_id=2, source_id=4, label=0),
        AnnotationRecord(item_id=2, source_id=5, label=1),  # human majority beats drafts
        AnnotationRecord(item_id=3, source_id=3, label=1),
        AnnotationRecord(item_id=3, source_id=6, label=0),  # gold beats everyone
    ]
    got = {i: (a.label, s.kind) for i, (a, s, _) in final_labels(items, srcs, anns).items()}
    assert got == {1: (1, "model"), 2: (1, "human"), 3: (0, "gold")}
    assert not any(f.disputed for f in final_labels(items, srcs, anns).values())


def test_an_unresolved_tie_between_people_is_exported_as_needing_review(tmp_path: Path) -> None:
    from labelloop.core import AnnotationRecord, SourceRecord
    from labelloop.core.records import Snapshot
    from labelloop.io.common import final_labels
    from labelloop.io.csv_format import write_csv

    items = [ItemRecord(id=i, data={"text": str(i)}) for i in (1, 2)]
    srcs = [SourceRecord(id=3, kind="human", name="ann1"),
            SourceRecord(id=4, kind="human", name="ann2")]
    anns = [AnnotationRecord(item_id=1, source_id=3, label=1),
            AnnotationRecord(item_id=1, source_id=4, label=0),  # 1-1: nobody decided
            AnnotationRecord(item_id=2, source_id=3, label=1),
            AnnotationRecord(item_id=2, source_id=4, label=1)]
    finals = final_labels(items, srcs, anns)
    assert finals[1].disputed and not finals[2].disputed
    out = tmp_path / "out.csv"
    write_csv(out, Snapshot(items, srcs, anns), LabelSchema.from_labels(
        "text-classification", ["ham", "spam"]))
    rows = {r["id"]: r for r in csv.DictReader(out.open())}
    # before: exported as the first answer with needs_review=false
    assert rows["1"]["needs_review"] == "true" and rows["2"]["needs_review"] == "false"
