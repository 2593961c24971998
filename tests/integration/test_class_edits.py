"""Class edits against both databases: votes counted per class (single-label indices,
label sets, box and span names), and the schema replaced only when no vote loses its
class."""

from __future__ import annotations

import pytest

from labelloop.core.records import AnnotationRecord, Box, ItemRecord, Span
from labelloop.core.schema import LabelClass, LabelSchema
from labelloop.errors import ConflictError, ValidationError
from labelloop.services.project import Project
from labelloop.services.setup import ClassEdit, create_project, edit_classes
from labelloop.storage import Store


def _project(store: Store, task: str, names: list[str]) -> Project:
    info = create_project(store, f"p-{task}", task, [LabelClass(name=n) for n in names])
    return Project(store, info)


def test_class_votes_count_every_kind_of_answer(db_url: str) -> None:
    store = Store(db_url)
    try:
        single = _project(store, "text-classification", ["a", "b", "c"])
        multi = _project(store, "multi-label-text", ["x", "y", "z"])
        boxes = _project(store, "object-detection", ["red", "blue"])
        spans = _project(store, "spans", ["PER", "ORG"])
        answers = ((single, {"text": "t"}, {"label": 2}),
                   (multi, {"text": "t"}, {"labels": [0, 2]}),
                   (boxes, {"image": "https://example.org/i.png"},
                    {"boxes": [Box(x=1, y=1, w=2, h=2, label="blue")]}),
                   (spans, {"text": "Ann"}, {"spans": [Span(start=0, end=3, label="PER")]}))
        for p, data, answer in answers:
            item = store.import_records(p.id, [ItemRecord(data=data, width=10, height=10)])
            source = store.ensure_source(p.id, "human", "ann")
            p.add_annotations([AnnotationRecord(item_id=item.item_ids[0], source_id=source.id,
                                                **answer)])
        assert store.class_votes(single.id) == ({2: 1}, {})
        assert store.class_votes(multi.id) == ({0: 1, 2: 1}, {})
        assert store.class_votes(boxes.id) == ({}, {"blue": 1})
        assert store.class_votes(spans.id) == ({}, {"PER": 1})

        with pytest.raises(ValidationError, match="class 'c' has 1 vote"):
            edit_classes(single, {"c": ClassEdit("cc")})
        with pytest.raises(ValidationError, match="would renumber 'c'"):
            edit_classes(single, {"b": ClassEdit("b", remove=True)})
        with pytest.raises(ValidationError, match="class 'PER' has 1 vote"):
            edit_classes(spans, {"PER": ClassEdit("PER", remove=True)})
        assert store.project(single.id).schema.names == ["a", "b", "c"]

        edit_classes(single, {"a": ClassEdit("first", "the first", "#AABBCC")},
                     [LabelClass(name="d")])
        stored = store.project(single.id).schema
        assert [(c.name, c.description, c.color) for c in stored.classes] == [
            ("first", "the first", "#aabbcc"), ("b", "", ""), ("c", "", ""), ("d", "", "")]
        edit_classes(spans, {"ORG": ClassEdit("ORG", remove=True)})
        assert store.project(spans.id).schema.names == ["PER"]
        with pytest.raises(ValidationError, match="cannot change"):
            store.update_schema(single.id, LabelSchema.from_labels("multi-label-text", ["a", "b"]))
        with pytest.raises(ConflictError):
            create_project(store, "p-spans", "spans", [LabelClass(name="X")])
    finally:
        store.close()


def test_a_class_without_a_colour_is_stored_as_before() -> None:
    """Schemas of existing projects (and the import keys hashed from them) do not change."""
    schema = LabelSchema.parse({"task": "text-classification",
                                "classes": ["a", {"name": "b", "color": "#00AA00"}]})
    assert schema.model_dump()["classes"] == [{"name": "a", "description": ""},
                                              {"name": "b", "description": "",
                                               "color": "#00AA00"}]
    assert LabelSchema.model_validate(schema.model_dump()) == schema
