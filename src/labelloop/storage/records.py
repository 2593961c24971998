"""What the store hands back: frozen records of projects, votes, claims and counts.

Rows never leave :mod:`labelloop.storage`; the ``*_record`` converters turn them into the
records of :mod:`labelloop.core.records` or the dataclasses below.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from labelloop.core.records import AnnotationRecord, ItemRecord, SourceRecord, UserRecord
from labelloop.core.schema import LabelSchema, ProjectSettings
from labelloop.storage.models import AnnotationRow, ItemRow, SourceRow, UserRow

ITEM_STATES = ("gold", "human", "needs_review", "auto", "unlabeled")


@dataclass(frozen=True)
class ProjectInfo:
    """A stored project: id, name, label schema and settings.

    ``members_only``: only its members (and admins) see it. ``media_roots``: folders its
    item images may come from, besides the project folder.
    """

    id: int
    name: str
    schema: LabelSchema
    settings: ProjectSettings
    members_only: bool = False
    media_roots: tuple[str, ...] = ()


@dataclass(frozen=True)
class TokenInfo:
    """An API token as its owner sees it (never the token or its hash)."""

    id: int
    user_id: int
    name: str
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None


@dataclass
class ImportResult:
    """What an import changed (``unchanged``: the same file was imported before with the
    same options, so nothing was read; ``skipped`` then counts its rows)."""

    added: int = 0
    skipped: int = 0
    annotations: int = 0
    item_ids: list[int] = field(default_factory=list)
    unchanged: bool = False


@dataclass(frozen=True)
class Failure:
    """A per-item failure of a labeling function, model or other stage."""

    item_id: int | None
    source_id: int | None
    stage: str
    error: str


@dataclass(frozen=True)
class Vote:
    """One source's annotation of an item, with the source's kind, name and user."""

    kind: str
    source: str
    user_id: int | None
    annotation: AnnotationRecord


@dataclass(frozen=True)
class VoteColumns:
    """Single-label annotations as parallel arrays, ordered by item then source id.

    ``confidence`` is the stored confidence, else the largest stored probability, else
    NaN.
    """

    item_ids: npt.NDArray[np.int64]
    source_ids: npt.NDArray[np.int64]
    labels: npt.NDArray[np.int64]
    confidence: npt.NDArray[np.float64]


@dataclass(frozen=True)
class Claim:
    """An open claim of one item by one user (``honeypot`` is never shown to annotators)."""

    assignment_id: int
    item_id: int
    user_id: int
    claimed_at: datetime
    expires_at: datetime
    honeypot: bool


@dataclass(frozen=True)
class SourceCount:
    """Annotations of one source, and how many of them need review."""

    kind: str
    name: str
    version: str
    annotations: int
    needs_review: int


@dataclass(frozen=True)
class StoreStatus:
    """Counts of a project's items by split and state, and of annotations per source.

    ``states`` has one entry per :data:`ITEM_STATES`, in that order.
    """

    items: int
    splits: dict[str, int]
    states: dict[str, int]
    sources: list[SourceCount]

    def to_dict(self) -> dict[str, Any]:
        """The counts as plain JSON-ready data (``labelloop status --json``)."""
        return asdict(self)


def item_record(row: ItemRow) -> ItemRecord:
    """Turn an items row into an ItemRecord.

    Rows were validated when they were written, so the record is built without validating
    again (a large export builds one per item).
    """
    return ItemRecord.model_construct(
        id=row.id,
        data=row.data,
        meta=row.meta or {},
        split=row.split,
        external_id=row.external_id,
        content_hash=row.content_hash,
        width=row.width,
        height=row.height,
    )


def source_record(row: SourceRow) -> SourceRecord:
    """Turn a sources row into a SourceRecord."""
    return SourceRecord(
        id=row.id, kind=row.kind, name=row.name, version=row.version,  # type: ignore[arg-type]
        user_id=row.user_id,
    )


def annotation_record(row: AnnotationRow) -> AnnotationRecord:
    """Turn an annotations row into an AnnotationRecord (validated when written, so built
    without validating again; boxes are still parsed into :class:`Box` objects)."""
    value = row.value or {}
    make = (AnnotationRecord if value.get("boxes") or value.get("spans")
            else AnnotationRecord.model_construct)
    return make(
        id=row.id,
        item_id=row.item_id,
        source_id=row.source_id,
        label=row.label,
        labels=value.get("labels"),
        boxes=value.get("boxes"),
        spans=value.get("spans"),
        probs=value.get("probs"),
        confidence=row.confidence,
        needs_review=bool(row.needs_review),
        seconds=row.seconds,
        created_at=row.created_at,
    )


def user_record(row: UserRow) -> UserRecord:
    """Turn a users row into a UserRecord (never the password hash)."""
    return UserRecord(id=row.id, name=row.name, role=row.role, active=row.active)  # type: ignore[arg-type]
