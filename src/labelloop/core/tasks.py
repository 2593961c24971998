"""Task types: what a project labels and what one answer looks like (pure data, no I/O).

Every place that depends on the kind of project (which item field is the main one, whether
an answer is one class, a set of classes or boxes, how many classes a schema needs) asks
the project's :class:`TaskType` instead of comparing task names. A new task type (spans,
say) is one more entry in :data:`TASK_TYPES`.

Examples
--------
>>> from labelloop.core.tasks import task_type
>>> det = task_type("object-detection")
>>> det.media, det.answer, det.min_classes
('image', 'boxes', 1)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

from labelloop.core.records import Box, Span
from labelloop.core.spans import parse_spans
from labelloop.errors import ValidationError

if TYPE_CHECKING:
    from labelloop.core.schema import LabelSchema

TaskName = Literal[
    "text-classification", "multi-label-text", "image-classification", "object-detection",
    "spans",
]
Media = Literal["text", "image"]
AnswerShape = Literal["label", "labels", "boxes", "spans"]
TASK_ALIASES: dict[str, str] = {"ner": "spans"}
"""Other names a task type answers to (``--task ner`` is a ``spans`` project)."""
_COUNTS = ("none", "one", "two", "three")


@dataclass(frozen=True)
class Answer:
    """What an annotator submits: a class, several classes, boxes or text spans, by the
    task type."""

    label: int | None = None
    labels: list[int] | None = None
    boxes: list[Box] | None = None
    spans: list[Span] | None = None


@dataclass(frozen=True)
class TaskType:
    """One kind of labeling task.

    Attributes
    ----------
    name:
        The name projects and schema files use (``"object-detection"``).
    media:
        What an item shows: ``"text"`` (``data.text``) or ``"image"`` (``data.image``).
    answer:
        The shape of one answer: ``"label"`` (one class), ``"labels"`` (a set of
        classes), ``"boxes"`` (labelled boxes in pixels) or ``"spans"`` (labelled
        character spans of the text).
    min_classes:
        How many classes a label schema of this task needs at least.
    """

    name: str
    media: Media
    answer: AnswerShape
    min_classes: int

    @property
    def is_image(self) -> bool:
        """Whether items are images (``data.image``) rather than texts."""
        return self.media == "image"

    @property
    def single_label(self) -> bool:
        """Whether an answer is exactly one class."""
        return self.answer == "label"

    @property
    def multi_label(self) -> bool:
        """Whether an answer is a set of classes."""
        return self.answer == "labels"

    @property
    def has_boxes(self) -> bool:
        """Whether an answer is a list of boxes."""
        return self.answer == "boxes"

    @property
    def has_spans(self) -> bool:
        """Whether an answer is a list of labelled text spans."""
        return self.answer == "spans"

    def class_count_problem(self, n_classes: int) -> str | None:
        """Why ``n_classes`` classes are too few for this task, or None when they are not."""
        if n_classes >= self.min_classes:
            return None
        need = self.min_classes
        words = _COUNTS[need] if need < len(_COUNTS) else str(need)
        return f"a {self.name} task needs at least {words} class{'es' if need > 1 else ''}"

    def parse_answer(
        self,
        schema: LabelSchema,
        raw: Mapping[str, Any],
        size: tuple[int | None, int | None] = (None, None),
        *,
        text: str | None = None,
        allow_overlap: bool = False,
    ) -> Answer:
        """Validate a submitted answer of this task type.

        Parameters
        ----------
        schema:
            The project's label schema (classes by name or index).
        raw:
            ``{"label": ...}``, ``{"labels": [...]}``, ``{"boxes": [{x, y, w, h, label}]}``
            or ``{"spans": [{start, end, label}]}``.
        size:
            ``(width, height)`` of the image when known; boxes must lie inside it.
        text:
            The item's text when known: spans must lie inside it and are snapped to its
            tokens (:func:`labelloop.core.spans.parse_spans`).
        allow_overlap:
            Whether spans may share characters (the project setting ``allow_overlap``).

        Raises
        ------
        ValidationError
            If the answer does not have this task's shape or names an unknown class.
        """
        if self.answer == "boxes":
            return Answer(boxes=_parse_boxes(schema, raw.get("boxes"), size))
        if self.answer == "spans":
            return Answer(spans=parse_spans(schema, raw.get("spans"), text,
                                            allow_overlap=allow_overlap))
        if self.answer == "labels":
            labels = raw.get("labels")
            if not isinstance(labels, list):
                raise ValidationError("a multi-label answer needs 'labels': a list of class names")
            return Answer(labels=sorted({schema.index_of(v) for v in labels}))
        if raw.get("label") is None:
            raise ValidationError(f"a {self.name} answer needs 'label': one of {schema.names}")
        return Answer(label=schema.index_of(raw["label"]))


def _parse_boxes(
    schema: LabelSchema, boxes: Any, size: tuple[int | None, int | None]
) -> list[Box]:
    if not isinstance(boxes, list):
        raise ValidationError("an object-detection answer needs 'boxes': a list (may be empty)")
    out = []
    width, height = size
    for n, b in enumerate(boxes):
        try:
            box = Box.model_validate({**b, "label": schema.names[schema.index_of(b["label"])]})
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationError(f"box {n}: {exc}") from None
        if (width and box.x + box.w > width + 0.5) or (height and box.y + box.h > height + 0.5):
            raise ValidationError(
                f"box {n} leaves the image: {box.xyxy()} vs size {width}x{height}"
            )
        out.append(box)
    return out


_REGISTRY: dict[str, TaskType] = {
    t.name: t
    for t in (
        TaskType("text-classification", media="text", answer="label", min_classes=2),
        TaskType("multi-label-text", media="text", answer="labels", min_classes=2),
        TaskType("image-classification", media="image", answer="label", min_classes=2),
        TaskType("object-detection", media="image", answer="boxes", min_classes=1),
        TaskType("spans", media="text", answer="spans", min_classes=1),
    )
}
TASK_TYPES: tuple[str, ...] = get_args(TaskName)
"""Names of every task type, in the order help texts list them."""


def canonical_task(name: object) -> object:
    """``name`` with an alias replaced by the task type's name (``"ner"`` -> ``"spans"``)."""
    return TASK_ALIASES.get(name, name) if isinstance(name, str) else name


def task_type(name: object) -> TaskType:
    """The task type called ``name`` (or an alias of it, :data:`TASK_ALIASES`).

    Raises
    ------
    ValidationError
        If no task type has that name (or ``name`` is not a string); the message lists
        the known ones.
    """
    name = canonical_task(name)
    found = _REGISTRY.get(name) if isinstance(name, str) else None
    if found is None:
        raise ValidationError(f"unknown task {name!r}; expected one of: {', '.join(TASK_TYPES)}")
    return found


def task_types() -> tuple[TaskType, ...]:
    """Every task type, in the order of :data:`TASK_TYPES`."""
    return tuple(_REGISTRY[n] for n in TASK_TYPES)
