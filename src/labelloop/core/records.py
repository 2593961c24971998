"""Records of the data model: items, sources, annotations, users, assignments, boxes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, NamedTuple, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from labelloop.errors import ValidationError


class SourceKind(StrEnum):
    """What a source is. Members are the strings stored in the database (``"human"`` ...)."""

    HUMAN = "human"
    MODEL = "model"
    LABELING_FUNCTION = "labeling_function"
    LABEL_MODEL = "label_model"
    GOLD = "gold"


SOURCE_KINDS: tuple[str, ...] = tuple(k.value for k in SourceKind)
LOOP_SOURCE = "loop"
"""Name of the ``label_model`` source holding the closed loop's posterior (each round
rewrites it for every item, so an export credits it to the newest finished round)."""
Role = Literal["admin", "reviewer", "annotator"]
ROLES: tuple[str, ...] = get_args(Role)
AssignmentState = Literal["claimed", "submitted", "skipped", "expired"]
Split = Literal["train", "valid", "test", "unassigned"]
SPLITS: tuple[str, ...] = get_args(Split)


class Span(BaseModel):
    """A labelled text span ``[start, end)`` in characters of the item's text."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: int = Field(ge=0)
    end: int = Field(gt=0)
    label: str
    score: float | None = Field(default=None, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> Span:
        if self.end <= self.start:
            raise ValueError(f"a span must end after it starts; got start={self.start}, "
                             f"end={self.end}")
        return self

    def key(self) -> tuple[int, int, str]:
        """``(start, end, label)``: what two spans must share to be the same span."""
        return (self.start, self.end, self.label)


class Box(BaseModel):
    """A bounding box ``[x, y, w, h]`` in pixels of the original image."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    x: float
    y: float
    w: float = Field(gt=0)
    h: float = Field(gt=0)
    label: str
    score: float | None = Field(default=None, ge=0.0, le=1.0)

    @field_validator("x", "y")
    @classmethod
    def _non_negative(cls, v: float) -> float:
        if v < 0:
            raise ValueError("box corners must be inside the image (x, y >= 0)")
        return v

    def xyxy(self) -> tuple[float, float, float, float]:
        """Return ``(x1, y1, x2, y2)``."""
        return (self.x, self.y, self.x + self.w, self.y + self.h)


_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                              default=str)
_STORED = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)


def _encoder(sort_keys: bool) -> Callable[[dict[str, Any]], str]:
    """``JSONEncoder.encode`` of the encoders above, its C encoder built once (``encode``
    builds one per call, as much work as encoding a small item)."""
    c_make = getattr(json.encoder, "c_make_encoder", None)
    if c_make is None:  # no C accelerator in this Python
        return (_CANONICAL if sort_keys else _STORED).encode
    encode = c_make(None, str, json.encoder.encode_basestring, None, ":", ",", sort_keys,
                    False, True)
    return lambda obj: "".join(encode(obj, 0))


_canonical_text = _encoder(True)
_stored_text = _encoder(False)


def content_hash(data: dict[str, Any]) -> str:
    """Hash an item's data canonically (key order and float repr independent)."""
    return hashlib.sha256(_canonical_text(data).encode("utf-8")).hexdigest()


def encode_data(data: dict[str, Any]) -> tuple[str, str]:
    """An item's data as the JSON text to store (keys in their order) and its content hash.

    Data whose keys are already sorted is encoded once: the stored text is then the
    canonical text the hash is taken of. A value JSON cannot hold is stored as its
    ``str``, as the hash takes it.
    """
    canon = _canonical_text(data)
    digest = hashlib.sha256(canon.encode("utf-8")).hexdigest()
    keys = list(data)
    return (canon if keys == sorted(keys) else _stored_text(data)), digest


def encode_json(value: dict[str, Any]) -> str:
    """JSON text of a dict as stored (``meta``, an annotation's ``value``)."""
    return "{}" if not value else _stored_text(value)


def occurrence_hash(base: str, occurrence: int) -> str:
    """Hash of the ``occurrence``-th copy (0-based) of identical rows in one import.

    Identical rows in one file are kept as separate items (datasets do hold exact
    duplicates); numbering them keeps re-imports of the same file idempotent.
    """
    if occurrence == 0:
        return base
    return hashlib.sha256(f"{base}#{occurrence}".encode()).hexdigest()


class ItemRecord(BaseModel):
    """An item to label: a text or an image, plus its other fields and metadata.

    ``data`` holds every field of the item (``text`` or ``image`` among them); its
    content hash identifies the item, so re-importing it adds nothing.
    """

    model_config = ConfigDict(extra="forbid")

    id: int | None = None
    data: dict[str, Any]
    meta: dict[str, Any] = Field(default_factory=dict)
    split: Split = "unassigned"
    external_id: str | None = None
    content_hash: str = ""
    width: int | None = None
    height: int | None = None

    def model_post_init(self, __context: Any) -> None:
        if not self.content_hash:
            self.content_hash = content_hash(self.data)

    @property
    def text(self) -> str | None:
        """The item's text, if it is a text item."""
        v = self.data.get("text")
        return None if v is None else str(v)

    @property
    def image(self) -> str | None:
        """The item's image path or URL, if it is an image item."""
        v = self.data.get("image")
        return None if v is None else str(v)


class ImportItem(NamedTuple):
    """An item as an import reader hands it to the store: its data already encoded.

    Readers build these instead of :class:`ItemRecord` (no validation model per row, the
    data encoded once); the store takes either. ``data_hash`` is the hash of the data
    alone; ``content_hash`` tells identical rows of one import apart
    (:func:`occurrence_hash`).
    """

    content_hash: str
    data: dict[str, Any]
    data_json: str
    data_hash: str
    split: str = "unassigned"
    external_id: str | None = None
    meta: dict[str, Any] = {}  # noqa: RUF012 (never mutated: a NamedTuple default)
    meta_json: str = "{}"
    width: int | None = None
    height: int | None = None

    @classmethod
    def of(cls, record: ItemRecord) -> ImportItem:
        """The item of a record (its content hash kept as given)."""
        data_json, digest = encode_data(record.data)
        return cls(record.content_hash or digest, record.data, data_json, digest,
                   record.split, record.external_id, record.meta, encode_json(record.meta),
                   record.width, record.height)

    @property
    def text(self) -> str | None:
        """The item's text, if it is a text item."""
        v = self.data.get("text")
        return None if v is None else str(v)

    @property
    def image(self) -> str | None:
        """The item's image path or URL, if it is an image item."""
        v = self.data.get("image")
        return None if v is None else str(v)


def import_item(data: dict[str, Any], *, split: str = "unassigned",
                external_id: str | None = None, meta: dict[str, Any] | None = None,
                width: int | None = None, height: int | None = None,
                content_hash: str | None = None) -> ImportItem:
    """An :class:`ImportItem` from its fields (``content_hash`` defaults to the data's)."""
    data_json, digest = encode_data(data)
    meta = meta or {}
    return ImportItem(content_hash or digest, data, data_json, digest, split, external_id,
                      meta, encode_json(meta), width, height)


class SourceRecord(BaseModel):
    """Anything that can say "item i has label c"."""

    model_config = ConfigDict(extra="forbid")

    id: int | None = None
    kind: SourceKind
    name: str = Field(min_length=1)
    version: str = ""
    user_id: int | None = None


class AnnotationRecord(BaseModel):
    """One source's answer for one item.

    ``label`` is the class index for single-label tasks; ``labels`` the class indices for
    multi-label text; ``boxes`` the boxes for object detection; ``spans`` the labelled
    character spans of a span (named-entity) task.
    """

    model_config = ConfigDict(extra="forbid")

    id: int | None = None
    item_id: int
    source_id: int
    label: int | None = None
    labels: list[int] | None = None
    boxes: list[Box] | None = None
    spans: list[Span] | None = None
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    probs: list[float] | None = None
    needs_review: bool = False
    seconds: float | None = Field(default=None, ge=0.0)
    created_at: datetime | None = None


class UserRecord(BaseModel):
    """A person who uses the server."""

    model_config = ConfigDict(extra="forbid")

    id: int | None = None
    name: str = Field(min_length=1, max_length=100)
    role: Role
    active: bool = True


class AssignmentRecord(BaseModel):
    """An item claimed by an annotator."""

    model_config = ConfigDict(extra="forbid")

    id: int | None = None
    item_id: int
    user_id: int
    claimed_at: datetime
    expires_at: datetime
    state: AssignmentState = "claimed"


@dataclass(frozen=True)
class PendingAnnotation:
    """An annotation to import, tied to its item by content hash and to a source identity."""

    content_hash: str
    kind: str
    name: str
    version: str = ""
    label: int | None = None
    labels: list[int] | None = None
    boxes: list[dict[str, Any]] | None = None
    confidence: float | None = None
    needs_review: bool = False
    spans: list[dict[str, Any]] | None = None


class ExportItem(NamedTuple):
    """An item as an export reads it: a plain tuple, no validation (the stored row)."""

    id: int
    external_id: str | None
    data: dict[str, Any]
    meta: dict[str, Any]
    split: str
    width: int | None
    height: int | None


class ExportVote(NamedTuple):
    """One source's annotation of an item as an export reads it: a plain tuple.

    ``labels``, ``boxes`` and ``spans`` are read from the stored value only where it
    holds them.
    """

    item_id: int
    source_id: int
    label: int | None
    labels: list[int] | None
    boxes: list[Box] | None
    confidence: float | None
    needs_review: bool
    seconds: float | None
    spans: list[Span] | None = None


@dataclass(frozen=True)
class ExportPage:
    """One page of an export: items in id order, every source, the items' annotations
    ordered by item and source."""

    items: list[ExportItem]
    sources: list[SourceRecord]
    annotations: list[ExportVote]


def export_page(snap: Snapshot) -> ExportPage:
    """A snapshot of records as one export page (the in-memory path of the writers).

    Raises
    ------
    ValidationError
        If an item has no id (only stored items can be exported).
    """
    missing = [n for n, it in enumerate(snap.items) if it.id is None]
    if missing:
        raise ValidationError(f"item {missing[0]} of the snapshot has no id; export stored items")
    return ExportPage(
        [ExportItem(it.id, it.external_id, it.data, it.meta,  # type: ignore[arg-type]
                    it.split, it.width, it.height) for it in snap.items],
        snap.sources,
        [ExportVote(a.item_id, a.source_id, a.label, a.labels, a.boxes, a.confidence,
                    a.needs_review, a.seconds, a.spans) for a in snap.annotations],
    )


@dataclass(frozen=True)
class Snapshot:
    """Everything an export needs, read in one transaction."""

    items: list[ItemRecord]
    sources: list[SourceRecord]
    annotations: list[AnnotationRecord]


__all__ = [
    "ROLES",
    "SOURCE_KINDS",
    "SPLITS",
    "AnnotationRecord",
    "AssignmentRecord",
    "AssignmentState",
    "Box",
    "ExportItem",
    "ExportPage",
    "ExportVote",
    "ImportItem",
    "ItemRecord",
    "PendingAnnotation",
    "Role",
    "Snapshot",
    "SourceKind",
    "SourceRecord",
    "Span",
    "Split",
    "UserRecord",
    "content_hash",
    "encode_data",
    "encode_json",
    "export_page",
    "import_item",
    "occurrence_hash",
]
