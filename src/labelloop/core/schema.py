"""Label schema and project settings (pure data, no I/O); task types live in
:mod:`labelloop.core.tasks`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from labelloop.core.tasks import TaskName, TaskType, canonical_task, task_type
from labelloop.errors import ValidationError

INSTRUCTIONS_MAX = 50_000
"""Longest annotator instructions (characters of Markdown)."""


class LabelClass(BaseModel):
    """One class of a label schema: a name, a description for people and models, and an
    optional display colour (``#rrggbb``; empty: the page's palette picks one)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    # left out of dumps while empty: stored schemas and import keys stay as they were
    color: str = Field(default="", pattern=r"^(#[0-9a-fA-F]{6})?$", exclude_if=lambda v: not v)

    @field_validator("name")
    @classmethod
    def _strip(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("a class name cannot be blank")
        return v


class ProjectSettings(BaseModel):
    """Workflow settings of a project.

    Attributes
    ----------
    overlap:
        How many different annotators label each item.
    honeypot_rate:
        Share of an annotator's queue drawn from gold items (0 disables honeypots).
    review_threshold:
        Drafts with a confidence below this need review until calibration sets per-class
        thresholds.
    claim_minutes:
        How long an annotator holds a claimed item before it returns to the queue.
    requeue_every:
        Recompute the active-learning priority after this many new human labels.
    target_precision:
        Precision auto-accepted labels must reach (calibrated thresholds).
    loop_every:
        Run a round of the closed loop (``labelloop loop``) after this many new human
        answers; 0: after every new answer when watched, otherwise only on demand.
    allow_overlap:
        Span tasks: whether the spans of one answer may share characters.
    instructions:
        Guidelines for annotators (Markdown, shown beside the item on the label page).
    routing:
        Who gets which item. ``"off"``: everyone takes the queue in priority order.
        ``"difficulty"``: each round of the loop marks the items whose posterior is below
        ``hard_below`` (disputed or uncertain) as *hard*; hard items go only to the
        ``experts``, who take them before anything else; everyone else never sees them.
    experts:
        User names of the project's experts (needed when ``routing`` is ``"difficulty"``).
    hard_below:
        Routing: an unlabelled, not auto-accepted item whose loop posterior (the
        probability of its most likely class) is below this is hard.
    price_per_label, price_per_expert_label:
        What one human answer costs (an expert's answer: ``price_per_expert_label``, else
        ``price_per_label``); when set, the dashboard and ``labelloop loop`` show spending
        in money too. ``None``: counted in labels only.
    currency:
        The currency the prices are in (a label, e.g. ``"USD"``).
    """

    model_config = ConfigDict(extra="forbid")

    overlap: int = Field(default=1, ge=1, le=50)
    honeypot_rate: float = Field(default=0.0, ge=0.0, le=0.5)
    review_threshold: float = Field(default=0.8, ge=0.0, le=1.0)
    claim_minutes: int = Field(default=30, ge=1, le=24 * 60)
    requeue_every: int = Field(default=50, ge=1)
    target_precision: float = Field(default=0.95, gt=0.0, lt=1.0)
    loop_every: int = Field(default=50, ge=0)
    honeypot_feedback: bool = True
    allow_overlap: bool = False
    instructions: str = Field(default="", max_length=INSTRUCTIONS_MAX)
    routing: Literal["off", "difficulty"] = "off"
    experts: list[str] = Field(default_factory=list, max_length=500)
    hard_below: float = Field(default=0.8, gt=0.0, le=1.0)
    price_per_label: float | None = Field(default=None, ge=0.0)
    price_per_expert_label: float | None = Field(default=None, ge=0.0)
    currency: str = Field(default="USD", min_length=1, max_length=8)

    @field_validator("experts")
    @classmethod
    def _names(cls, v: list[str]) -> list[str]:
        names = [n.strip() for n in v if n.strip()]
        return list(dict.fromkeys(names))

    @model_validator(mode="after")
    def _routing(self) -> ProjectSettings:
        if self.routing == "difficulty" and not self.experts:
            raise ValueError("routing 'difficulty' sends hard items to experts only: name at "
                             "least one expert (experts=[...]) or set routing 'off'")
        return self

    def expert_price(self) -> float | None:
        """What an expert's answer costs (the plain price when no expert price is set)."""
        return (self.price_per_expert_label if self.price_per_expert_label is not None
                else self.price_per_label)


class LabelSchema(BaseModel):
    """The task type and the classes of a project."""

    model_config = ConfigDict(extra="forbid")

    task: TaskName
    classes: list[LabelClass] = Field(min_length=1)

    @field_validator("task", mode="before")
    @classmethod
    def _alias(cls, v: Any) -> Any:
        return canonical_task(v)

    @model_validator(mode="after")
    def _check(self) -> LabelSchema:
        names = [c.name for c in self.classes]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"class names must be unique; repeated: {', '.join(dupes)}")
        problem = self.task_type.class_count_problem(len(self.classes))
        if problem:
            raise ValueError(problem)
        return self

    @property
    def task_type(self) -> TaskType:
        """The :class:`~labelloop.core.tasks.TaskType` of this schema's task."""
        return task_type(self.task)

    @property
    def names(self) -> list[str]:
        """Class names in index order."""
        return [c.name for c in self.classes]

    @property
    def k(self) -> int:
        """Number of classes."""
        return len(self.classes)

    def index_of(self, label: str | int) -> int:
        """Return the class index of a label given by name or index.

        Raises
        ------
        ValidationError
            If the label is not a class of this schema.
        """
        if isinstance(label, bool):
            raise ValidationError(f"label {label!r} is not a class; expected one of {self.names}")
        if isinstance(label, int):
            if 0 <= label < self.k:
                return label
            raise ValidationError(
                f"label index {label} is out of range; expected 0..{self.k - 1} ({self.names})"
            )
        text = str(label).strip()
        names = self.names
        if text in names:
            return names.index(text)
        lowered = [n.lower() for n in names]
        if text.lower() in lowered:
            return lowered.index(text.lower())
        if text.lstrip("-").isdigit():
            return self.index_of(int(text))
        raise ValidationError(f"label {text!r} is not a class; expected one of {names}")

    @classmethod
    def from_labels(cls, task: str, labels: list[str]) -> LabelSchema:
        """Build a schema from a task name and class names (descriptions empty)."""
        return cls.parse({"task": task, "classes": [{"name": n} for n in labels]})

    @classmethod
    def parse(cls, raw: Any) -> LabelSchema:
        """Validate a schema given as a mapping (e.g. loaded from ``schema.yaml``).

        ``classes`` may be a list of names, a list of ``{name, description}`` mappings, or
        a mapping from name to description.

        Raises
        ------
        ValidationError
            With every problem found, each naming the field.
        """
        if not isinstance(raw, dict):
            raise ValidationError(
                "a label schema must be a mapping with 'task' and 'classes', "
                f"got {type(raw).__name__}"
            )
        data = dict(raw)
        classes = data.get("classes", data.pop("labels", None))
        if isinstance(classes, dict):
            classes = [{"name": k, "description": v or ""} for k, v in classes.items()]
        elif isinstance(classes, list):
            classes = [{"name": c} if isinstance(c, str) else c for c in classes]
        data["classes"] = classes
        data["task"] = canonical_task(data.get("task"))
        task_type(data.get("task"))  # an unknown task: one message listing the known ones
        try:
            return cls.model_validate(data)
        except Exception as exc:  # pydantic.ValidationError -> our tree
            raise ValidationError(f"invalid label schema: {_pydantic_message(exc)}") from None


def _pydantic_message(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    parts = []
    for err in errors():
        loc = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{loc}: {err.get('msg')}" if loc else str(err.get("msg")))
    return "; ".join(parts)
