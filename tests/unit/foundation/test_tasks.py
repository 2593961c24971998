"""Task types: the registry, what each one expects of a schema and of an answer."""

from __future__ import annotations

import dataclasses

import pytest

from labelloop.core import TASK_TYPES, Answer, Box, LabelSchema, TaskType, task_type, task_types
from labelloop.errors import ValidationError


def test_registry_lists_every_task_type_once() -> None:
    assert [t.name for t in task_types()] == list(TASK_TYPES)
    assert TASK_TYPES == ("text-classification", "multi-label-text", "image-classification",
                          "object-detection", "spans")
    shapes = {t.name: (t.media, t.answer) for t in task_types()}
    assert shapes == {"text-classification": ("text", "label"),
                      "multi-label-text": ("text", "labels"),
                      "image-classification": ("image", "label"),
                      "object-detection": ("image", "boxes"),
                      "spans": ("text", "spans")}
    with pytest.raises(dataclasses.FrozenInstanceError):
        task_type("object-detection").answer = "label"  # type: ignore[misc]


@pytest.mark.parametrize("name", ["poetry", None, 3])
def test_unknown_task_lists_the_known_ones(name: object) -> None:
    with pytest.raises(ValidationError, match=r"unknown task .*; expected one of: "
                                              r"text-classification, multi-label-text"):
        task_type(name)


def test_schema_exposes_its_task_type_and_class_minimum() -> None:
    det = LabelSchema.from_labels("object-detection", ["cell"])
    assert isinstance(det.task_type, TaskType) and det.task_type.has_boxes
    assert det.task_type is task_type("object-detection")
    for name in ("text-classification", "multi-label-text", "image-classification"):
        with pytest.raises(ValidationError, match=f"a {name} task needs at least two classes"):
            LabelSchema.from_labels(name, ["only"])
    assert task_type("object-detection").class_count_problem(0) == (
        "a object-detection task needs at least one class")


def test_answers_are_validated_by_their_task_type() -> None:
    classes = ["cat", "dog"]
    single = LabelSchema.from_labels("image-classification", classes)
    assert single.task_type.parse_answer(single, {"label": "DOG"}) == Answer(label=1)
    with pytest.raises(ValidationError, match="a image-classification answer needs 'label'"):
        single.task_type.parse_answer(single, {"labels": ["dog"]})

    multi = LabelSchema.from_labels("multi-label-text", classes)
    assert multi.task_type.parse_answer(multi, {"labels": ["dog", 0, "dog"]}) == Answer(
        labels=[0, 1])
    with pytest.raises(ValidationError, match="needs 'labels': a list"):
        multi.task_type.parse_answer(multi, {"label": "dog"})

    det = LabelSchema.from_labels("object-detection", classes)
    box = {"x": 1, "y": 2, "w": 3, "h": 4, "label": "cat"}
    got = det.task_type.parse_answer(det, {"boxes": [box]}, (10, 10))
    assert got == Answer(boxes=[Box(x=1, y=2, w=3, h=4, label="cat")])
    with pytest.raises(ValidationError, match="box 0 leaves the image"):
        det.task_type.parse_answer(det, {"boxes": [{**box, "x": 9}]}, (10, 10))
    with pytest.raises(ValidationError, match=r"box 0: .*not a class"):
        det.task_type.parse_answer(det, {"boxes": [{**box, "label": "cow"}]})
    with pytest.raises(ValidationError, match="needs 'boxes'"):
        det.task_type.parse_answer(det, {"label": "cat"})
