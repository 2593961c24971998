"""Labeling use cases: next task, submit, skip, undo, with honeypots mixed in.

What an annotator gets for an item is deliberately narrow: the item's data, a model's
pre-label (never another person's label, never a gold answer) and their own earlier answer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from labelloop.core.records import AnnotationRecord, Box, ItemRecord, UserRecord
from labelloop.core.schema import LabelSchema
from labelloop.core.tasks import Answer as Answer  # re-exported: callers import it here
from labelloop.errors import ConflictError, NotFoundError
from labelloop.storage import queue as claims
from labelloop.storage.models import AnnotationRow, AssignmentRow, SourceRow, utcnow
from labelloop.storage.store import ProjectInfo, Store, annotation_record

MAX_SECONDS = 4 * 3600.0
SUGGESTION_KINDS = ("model", "label_model")


@dataclass(frozen=True)
class Suggestion:
    """A model's pre-label shown to the annotator, with its confidence."""

    source: str
    label: int | None
    labels: list[int] | None
    boxes: list[Box] | None
    confidence: float | None


@dataclass(frozen=True)
class Task:
    """One item to label, as an annotator may see it."""

    item: ItemRecord
    suggestion: Suggestion | None
    previous: AnnotationRecord | None
    expires_at: Any


@dataclass(frozen=True)
class Feedback:
    """Immediate feedback after answering a honeypot."""

    correct: bool
    expected: Answer


@dataclass(frozen=True)
class SubmitResult:
    """An acknowledged (durably stored) annotation, with honeypot feedback if any."""

    annotation: AnnotationRecord
    feedback: Feedback | None


def parse_answer(schema: LabelSchema, raw: dict[str, Any],
                 size: tuple[int | None, int | None] = (None, None)) -> Answer:
    """Validate a submitted answer against the label schema.

    ``label`` and ``labels`` may be class names or indices; boxes are ``{x, y, w, h, label}``
    in pixels and must lie inside the image when its size is known.

    Raises
    ------
    ValidationError
        If the answer does not fit the task type or names an unknown class.
    """
    return schema.task_type.parse_answer(schema, raw, size)


def _iou(a: Box, b: Box) -> float:
    ax1, ay1, ax2, ay2 = a.xyxy()
    bx1, by1, bx2, by2 = b.xyxy()
    iw = max(0.0, min(ax2, bx2) - max(ax1, bx1))
    ih = max(0.0, min(ay2, by2) - max(ay1, by1))
    inter = iw * ih
    return inter / (a.w * a.h + b.w * b.h - inter)


def answers_match(a: AnnotationRecord, b: AnnotationRecord, *, iou: float = 0.5) -> bool:
    """Whether two annotations agree (same class, same set, or boxes matched at IoU)."""
    if a.boxes is not None or b.boxes is not None:
        left, right = list(a.boxes or []), list(b.boxes or [])
        if len(left) != len(right):
            return False
        for box in left:
            hit = next((r for r in right if r.label == box.label and _iou(box, r) >= iou), None)
            if hit is None:
                return False
            right.remove(hit)
        return True
    if a.labels is not None or b.labels is not None:
        return sorted(a.labels or []) == sorted(b.labels or [])
    return a.label == b.label


class LabelingQueue:
    """The annotation queue of one project.

    Parameters
    ----------
    store:
        The project's store.
    project:
        The project (its settings give overlap, honeypot rate and claim duration).
    rng:
        Random source deciding when a honeypot is mixed in (seed it in tests).
    """

    def __init__(self, store: Store, project: ProjectInfo, rng: random.Random | None = None):
        self.store = store
        self.project = project
        self.rng = rng or random.Random()

    @property
    def _pid(self) -> int:
        return self.project.id

    def human_source(self, user: UserRecord) -> int:
        """The id of the user's human source in this project (created on first use).

        It is named after the user, or ``name#id`` when an imported source already has
        that name.
        """
        assert user.id is not None
        with self.store.snapshot() as s:
            found = s.scalar(select(SourceRow.id).where(
                SourceRow.project_id == self._pid, SourceRow.kind == "human",
                SourceRow.user_id == user.id).order_by(SourceRow.id).limit(1))
        if found is not None:
            return int(found)
        src = self.store.ensure_source(self._pid, "human", user.name, user_id=user.id)
        if src.user_id != user.id:
            src = self.store.ensure_source(self._pid, "human", f"{user.name}#{user.id}",
                                           user_id=user.id)
        return int(src.id)  # type: ignore[arg-type]

    def next(self, user: UserRecord) -> Task | None:
        """The user's open task, or a newly claimed one; None when nothing is left."""
        assert user.id is not None
        st = self.project.settings
        honeypot = st.honeypot_rate > 0 and self.rng.random() < st.honeypot_rate
        claim = claims.claim_next(
            self.store, self._pid, user.id, overlap=st.overlap, minutes=st.claim_minutes,
            honeypot=honeypot,
        )
        if claim is None:
            return None
        return self._task(user, claim.item_id, claim.expires_at)

    def task(self, user: UserRecord, item_id: int) -> Task:
        """An item the user holds a claim on or has answered before (to change the answer)."""
        assert user.id is not None
        claim = claims.open_claim(self.store, self._pid, user.id)
        if claim is not None and claim.item_id == item_id:
            return self._task(user, item_id, claim.expires_at)
        if self._own(user, item_id) is None:
            raise NotFoundError(f"item {item_id} is not in your queue")
        return self._task(user, item_id, None)

    def _task(self, user: UserRecord, item_id: int, expires_at: Any) -> Task:
        item = self.store.items(self._pid, ids=[item_id])[0]
        return Task(item, self._suggestion(item_id), self._own(user, item_id), expires_at)

    def _own(self, user: UserRecord, item_id: int) -> AnnotationRecord | None:
        with self.store.snapshot() as s:
            row = s.scalars(
                select(AnnotationRow).join(SourceRow, SourceRow.id == AnnotationRow.source_id)
                .where(AnnotationRow.item_id == item_id, SourceRow.user_id == user.id,
                       SourceRow.kind == "human", SourceRow.project_id == self._pid)
            ).first()
            return None if row is None else annotation_record(row)

    def _kind_annotations(self, item_id: int, kinds: tuple[str, ...]
                          ) -> list[tuple[str, str, AnnotationRecord]]:
        with self.store.snapshot() as s:
            rows = s.execute(
                select(SourceRow.kind, SourceRow.name, AnnotationRow)
                .join(AnnotationRow, AnnotationRow.source_id == SourceRow.id)
                .where(AnnotationRow.item_id == item_id, SourceRow.project_id == self._pid,
                       SourceRow.kind.in_(kinds))
                .order_by(SourceRow.id)
            ).all()
            return [(k, n, annotation_record(a)) for k, n, a in rows]

    def _suggestion(self, item_id: int) -> Suggestion | None:
        found = self._kind_annotations(item_id, (*SUGGESTION_KINDS, "human"))
        if any(k == "human" for k, _, _ in found):  # a label model would echo other people
            found = [f for f in found if f[0] == "model"]
        # one suggestion per model: its newest version (rows come in source order)
        found = list({(k, n): (k, n, a) for k, n, a in found if k != "human"}.values())
        if not found:
            return None
        kind_rank = {"model": 0, "label_model": 1}
        _, name, a = max(found, key=lambda f: (kind_rank[f[0]], f[2].confidence or 0.0))
        return Suggestion(name, a.label, a.labels, a.boxes, a.confidence)

    def _gold(self, item_id: int) -> AnnotationRecord | None:
        golds = self._kind_annotations(item_id, ("gold",))
        return golds[-1][2] if golds else None

    def submit(self, user: UserRecord, item_id: int, answer: Answer,
               seconds: float | None = None) -> SubmitResult:
        """Store the user's answer durably and close their claim.

        Raises
        ------
        NotFoundError
            If the item is not in this project.
        ConflictError
            If the claim expired and the item went to others, or a honeypot is answered twice.
        """
        assert user.id is not None
        item = self.store.items(self._pid, ids=[item_id])[0]
        st = self.project.settings
        claim = claims.open_claim(self.store, self._pid, user.id)
        own = self._own(user, item_id)
        gold = self._gold(item_id)
        if gold is not None and own is not None:
            raise ConflictError("this answer was already scored and cannot be changed")
        if own is None and (claim is None or claim.item_id != item_id):
            claim = claims.claim_item(self.store, self._pid, user.id, item_id,
                                      overlap=st.overlap, minutes=st.claim_minutes)
            if claim is None:
                raise ConflictError(
                    "your claim on this item expired and it went to other annotators; "
                    "your answer was not stored"
                )
        if seconds is None and claim is not None and claim.item_id == item_id:
            claimed = claim.claimed_at
            if claimed.tzinfo is None:
                claimed = claimed.replace(tzinfo=utcnow().tzinfo)
            seconds = (utcnow() - claimed).total_seconds()
        record = AnnotationRecord(
            item_id=item.id, source_id=self.human_source(user), label=answer.label,  # type: ignore[arg-type]
            labels=answer.labels, boxes=answer.boxes,
            seconds=None if seconds is None else min(max(float(seconds), 0.0), MAX_SECONDS),
        )
        self.store.upsert_annotations(self._pid, [record])
        claims.finish_claim(self.store, self._pid, user.id, item_id, "submitted")
        stored = self._own(user, item_id)
        assert stored is not None
        feedback = None
        if gold is not None and st.honeypot_feedback:
            expected = Answer(gold.label, gold.labels, gold.boxes)
            feedback = Feedback(answers_match(stored, gold), expected)
        return SubmitResult(stored, feedback)

    def skip(self, user: UserRecord, item_id: int) -> None:
        """Skip an item: it returns to the queue for others, never to this user."""
        assert user.id is not None
        self.store.items(self._pid, ids=[item_id])
        claims.finish_claim(self.store, self._pid, user.id, item_id, "skipped")

    def last_answered(self, user: UserRecord, *, before: int | None = None) -> int | None:
        """The item the user answered last (or last before item ``before``) that may
        still be changed (for undo); honeypots are never reopened."""
        with self.store.snapshot() as s:
            gold = (
                select(AnnotationRow.item_id)
                .join(SourceRow, SourceRow.id == AnnotationRow.source_id)
                .where(SourceRow.project_id == self._pid, SourceRow.kind == "gold")
            )
            q = (
                select(AssignmentRow.item_id)
                .where(AssignmentRow.project_id == self._pid, AssignmentRow.user_id == user.id,
                       AssignmentRow.state == "submitted", AssignmentRow.item_id.not_in(gold))
                .order_by(AssignmentRow.id.desc()).limit(1)
            )
            if before is not None:
                mark = s.scalar(
                    select(func.max(AssignmentRow.id))
                    .where(AssignmentRow.project_id == self._pid,
                           AssignmentRow.user_id == user.id, AssignmentRow.item_id == before,
                           AssignmentRow.state == "submitted")
                )
                if mark is not None:
                    q = q.where(AssignmentRow.id < mark)
            return s.scalar(q)

    def counts(self, user: UserRecord) -> dict[str, int]:
        """How many items the user answered and skipped, and how many wait for them."""
        with self.store.snapshot() as s:
            rows = s.execute(
                select(AssignmentRow.state, func.count(func.distinct(AssignmentRow.item_id)))
                .where(AssignmentRow.project_id == self._pid, AssignmentRow.user_id == user.id)
                .group_by(AssignmentRow.state)
            ).all()
        got = dict(rows)
        waiting = claims.available(self.store, self._pid, user.id or 0,
                                   overlap=self.project.settings.overlap)
        return {"submitted": int(got.get("submitted", 0)), "skipped": int(got.get("skipped", 0)),
                "waiting": waiting}
