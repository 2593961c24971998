"""Pydantic bodies of the REST API; labels travel as class names, boxes in pixels, spans in
characters of the item's text."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from labelloop.core.records import AnnotationRecord, Box, ItemRecord, Span, UserRecord
from labelloop.core.schema import INSTRUCTIONS_MAX, LabelSchema
from labelloop.io.formats import FORMATS, format_names
from labelloop.services.project import ProjectInfo
from labelloop.services.users import MIN_PASSWORD, TokenInfo


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserOut(BaseModel):
    id: int
    name: str
    role: str
    active: bool

    @classmethod
    def of(cls, u: UserRecord) -> UserOut:
        return cls(id=u.id or 0, name=u.name, role=u.role, active=u.active)


class UserIn(_In):
    name: str = Field(min_length=1, max_length=100)
    role: Literal["admin", "reviewer", "annotator"]
    password: str | None = Field(default=None, min_length=MIN_PASSWORD, max_length=200)


class UserCreated(BaseModel):
    user: UserOut
    password: str | None = Field(
        description="The generated password (shown once); null when the request gave one.")


class UserPatch(_In):
    active: bool | None = None
    password: str | None = Field(default=None, min_length=MIN_PASSWORD, max_length=200)


class TokenIn(_In):
    name: str = Field(default="", max_length=100)
    expires_days: float | None = Field(default=None, gt=0, le=3650)


class TokenOut(BaseModel):
    token: str


class TokenInfoOut(BaseModel):
    id: int
    name: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, t: TokenInfo) -> TokenInfoOut:
        return cls(id=t.id, name=t.name, created_at=t.created_at, expires_at=t.expires_at,
                   last_used_at=t.last_used_at)


class LoginIn(_In):
    name: str
    password: str


class LoginOut(BaseModel):
    user: UserOut
    csrf_token: str


class ClassOut(BaseModel):
    name: str
    description: str
    color: str = ""


class ProjectOut(BaseModel):
    id: int
    name: str
    task: str
    classes: list[ClassOut]
    settings: dict[str, Any]
    # what the task's answers look like (core.tasks.TaskType), so pages never compare names
    is_image: bool = False
    has_boxes: bool = False
    has_spans: bool = False
    multi_label: bool = False
    export_formats: list[str] = []

    @classmethod
    def of(cls, p: ProjectInfo) -> ProjectOut:
        kind = p.schema.task_type
        return cls(id=p.id, name=p.name, task=p.schema.task,
                   is_image=kind.is_image, has_boxes=kind.has_boxes,
                   has_spans=kind.has_spans, multi_label=kind.multi_label,
                   export_formats=[f for f in format_names("export", task=p.schema.task)
                                   if not FORMATS[f].folder],
                   classes=[ClassOut(name=c.name, description=c.description, color=c.color)
                            for c in p.schema.classes],
                   settings={**p.settings.model_dump(), "members_only": p.members_only,
                             "media_roots": list(p.media_roots)})


class SettingsPatch(_In):
    overlap: int | None = Field(default=None, ge=1, le=50)
    honeypot_rate: float | None = Field(default=None, ge=0.0, le=0.5)
    review_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    claim_minutes: int | None = Field(default=None, ge=1, le=24 * 60)
    honeypot_feedback: bool | None = None
    members_only: bool | None = None
    media_roots: list[str] | None = Field(default=None, max_length=50)
    instructions: str | None = Field(default=None, max_length=INSTRUCTIONS_MAX)
    routing: Literal["off", "difficulty"] | None = None
    experts: list[str] | None = Field(default=None, max_length=500)
    hard_below: float | None = Field(default=None, gt=0.0, le=1.0)
    price_per_label: float | None = Field(default=None, ge=0.0)
    price_per_expert_label: float | None = Field(default=None, ge=0.0)
    currency: str | None = Field(default=None, min_length=1, max_length=8)


class BoxIO(BaseModel):
    x: float
    y: float
    w: float
    h: float
    label: str
    score: float | None = None


class SpanIO(BaseModel):
    """A labelled span ``[start, end)`` in characters (Unicode code points) of the text;
    ``score``: a pre-labeler's confidence in it, when it gave one."""

    start: int
    end: int
    label: str | int
    score: float | None = None


class AnswerIn(_In):
    label: str | int | None = None
    labels: list[str | int] | None = None
    boxes: list[BoxIO] | None = None
    spans: list[SpanIO] | None = Field(default=None, max_length=10_000)
    seconds: float | None = Field(default=None, ge=0)

    def raw(self) -> dict[str, Any]:
        return {"label": self.label, "labels": self.labels,
                "boxes": None if self.boxes is None else [b.model_dump() for b in self.boxes],
                "spans": None if self.spans is None else [s.model_dump(exclude_none=True)
                                                          for s in self.spans]}


class AnswerOut(BaseModel):
    label: str | None = None
    labels: list[str] | None = None
    boxes: list[BoxIO] | None = None
    spans: list[SpanIO] | None = None

    @classmethod
    def of(cls, schema: LabelSchema, label: int | None, labels: list[int] | None,
           boxes: list[Box] | None, spans: list[Span] | None = None) -> AnswerOut:
        names = schema.names
        return cls(label=None if label is None else names[label],
                   labels=None if labels is None else [names[i] for i in labels],
                   boxes=None if boxes is None else [BoxIO(**b.model_dump()) for b in boxes],
                   spans=None if spans is None else [SpanIO(**s.model_dump()) for s in spans])


class ItemOut(BaseModel):
    id: int
    data: dict[str, Any]
    width: int | None
    height: int | None
    image_url: str | None

    @classmethod
    def of(cls, project_id: int, it: ItemRecord) -> ItemOut:
        image = it.image
        url = None
        if image is not None:
            url = image if image.startswith(("http://", "https://")) else (
                f"/api/v1/projects/{project_id}/items/{it.id}/image")
        return cls(id=it.id or 0, data=it.data, width=it.width, height=it.height, image_url=url)


class SuggestionOut(AnswerOut):
    source: str
    confidence: float | None


class TaskOut(BaseModel):
    item: ItemOut
    suggestion: SuggestionOut | None
    previous: AnswerOut | None
    expires_at: datetime | None


class NextOut(BaseModel):
    task: TaskOut | None


class FeedbackOut(BaseModel):
    correct: bool
    expected: AnswerOut


class SubmitOut(BaseModel):
    item_id: int
    answer: AnswerOut
    seconds: float | None
    feedback: FeedbackOut | None


class UndoOut(BaseModel):
    item_id: int | None


class VoteOut(BaseModel):
    kind: str
    source: str
    answer: AnswerOut
    confidence: float | None
    needs_review: bool
    seconds: float | None

    @classmethod
    def of(cls, schema: LabelSchema, kind: str, source: str, a: AnnotationRecord) -> VoteOut:
        return cls(kind=kind, source=source,
                   answer=AnswerOut.of(schema, a.label, a.labels, a.boxes, a.spans),
                   confidence=a.confidence, needs_review=a.needs_review, seconds=a.seconds)


class ReviewEntryOut(BaseModel):
    item: ItemOut
    reasons: list[str]
    votes: list[VoteOut]
    notes: list[str]


class DecisionIn(AnswerIn):
    decision: Literal["accept", "correct", "send_back"]
    note: str = Field(default="", max_length=2000)


class ScorecardOut(BaseModel):
    user_id: int
    name: str
    labeled: int
    median_seconds: float | None
    honeypots: int
    honeypot_accuracy: float | None
    honeypot_interval: tuple[float, float] | None
    agreement: float | None
    peer_kappa: float | None = None
    consensus_accuracy: float | None = None
    trend: list[float] = []
    confusion: list[list[int]] = []
    slow_items: int = 0
    fast_items: int = 0
    honeypot_span_f1: float | None = None


class DashboardOut(BaseModel):
    items: int
    states: dict[str, int]
    agreement: float | None
    pairs_compared: int
    label_model_coverage: float
    human_labels_saved: int
    review_queue: int
    scorecards: list[ScorecardOut]


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorOut(BaseModel):
    """The one error envelope of the API."""

    error: ErrorBody
