"""Labeling use cases: next task, submit, skip, undo, with honeypots mixed in.

What an annotator gets for an item is deliberately narrow: the item's data, a model's
pre-label (never another person's label, never a gold answer) and their own earlier answer.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from labelloop.core.records import AnnotationRecord, Box, ItemRecord, Span, UserRecord
from labelloop.core.schema import LabelSchema, ProjectSettings
from labelloop.core.tasks import Answer as Answer  # re-exported: callers import it here
from labelloop.errors import ConflictError, NotFoundError
from labelloop.storage import ProjectInfo, StoreProtocol
from labelloop.storage.records import Vote
from labelloop.storage.task_path import Route

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
    spans: list[Span] | None = None


@dataclass(frozen=True)
class Task:
    """One item to label, as an annotator may see it."""

    item: ItemRecord
    suggestion: Suggestion | None
    previous: AnnotationRecord | None
    expires_at: Any


@dataclass(frozen=True)
class QueueCounts:
    """How many items a user answered and skipped, and how many wait for them
    (``more``: at least ``waiting``, the count stopped there)."""

    submitted: int
    skipped: int
    waiting: int
    more: bool = False


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


def parse_answer(schema: LabelSchema, raw: Mapping[str, Any],
                 size: tuple[int | None, int | None] = (None, None), *,
                 text: str | None = None, allow_overlap: bool = False) -> Answer:
    """Validate a submitted answer against the label schema.

    ``label`` and ``labels`` may be class names or indices; boxes are ``{x, y, w, h, label}``
    in pixels and must lie inside the image when its size is known; spans are
    ``{start, end, label}`` in characters of ``text``, snapped to its tokens, overlapping
    only when ``allow_overlap``.

    Raises
    ------
    ValidationError
        If the answer does not fit the task type or names an unknown class.
    """
    return schema.task_type.parse_answer(schema, raw, size, text=text,
                                         allow_overlap=allow_overlap)


def answers_match(a: AnnotationRecord, b: AnnotationRecord, *, iou: float = 0.5) -> bool:
    """Whether two annotations agree (same class, same set, the same spans, or boxes
    matched at IoU).

    Boxes agree when every box of one answer matches a box of the same class in the other,
    one to one, at IoU >= ``iou`` (the Hungarian matching of
    :func:`labelloop.quality.box_agreement`, as in the quality report).
    """
    if a.spans is not None or b.spans is not None:
        return {s.key() for s in a.spans or []} == {s.key() for s in b.spans or []}
    if a.boxes is not None or b.boxes is not None:
        from labelloop.quality import box_agreement

        left, right = list(a.boxes or []), list(b.boxes or [])
        if len(left) != len(right):
            return False
        found = box_agreement([[x.x, x.y, x.w, x.h] for x in left],
                              [[x.x, x.y, x.w, x.h] for x in right],
                              labels_a=[x.label for x in left],
                              labels_b=[x.label for x in right], iou_threshold=iou)
        return len(found.matches) == len(left)
    if a.labels is not None or b.labels is not None:
        return sorted(a.labels or []) == sorted(b.labels or [])
    return a.label == b.label


def _suggestion(votes: list[Vote]) -> Suggestion | None:
    """The pre-label shown with an item: the most confident model's newest version; a
    label model's only while no human answered (it would echo other people)."""
    found = [(v.kind, v.source, v.annotation) for v in votes
             if v.kind in (*SUGGESTION_KINDS, "human")]
    if any(k == "human" for k, _, _ in found):
        found = [f for f in found if f[0] == "model"]
    # one suggestion per model: its newest version (rows come in source order)
    found = list({(k, n): (k, n, a) for k, n, a in found if k != "human"}.values())
    if not found:
        return None
    kind_rank = {"model": 0, "label_model": 1}
    _, name, a = max(found, key=lambda f: (kind_rank[f[0]], f[2].confidence or 0.0))
    return Suggestion(name, a.label, a.labels, a.boxes, a.confidence, a.spans)


def route_for(settings: ProjectSettings, user_name: str) -> Route:
    """Which items a user may claim under the project's routing: with routing by
    difficulty an expert takes hard items first and anyone else never gets one."""
    if settings.routing != "difficulty":
        return "any"
    return "expert" if user_name in settings.experts else "regular"


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

    def __init__(self, store: StoreProtocol, project: ProjectInfo,
                 rng: random.Random | None = None):
        self.store = store
        self.project = project
        self.rng = rng or random.Random()

    @property
    def _pid(self) -> int:
        return self.project.id

    def next(self, user: UserRecord) -> Task | None:
        """The user's open task, or a newly claimed one; None when nothing is left.

        The claim, the item and its votes come from one transaction.
        """
        assert user.id is not None
        st = self.project.settings
        honeypot = st.honeypot_rate > 0 and self.rng.random() < st.honeypot_rate
        found = self.store.claim_task(
            self._pid, user.id, overlap=st.overlap, minutes=st.claim_minutes, honeypot=honeypot,
            route=route_for(st, user.name),
        )
        if found is None:
            return None
        own = [v.annotation for v in found.votes if v.kind == "human" and v.user_id == user.id]
        return Task(found.item, _suggestion(found.votes), own[0] if own else None,
                    found.claim.expires_at)

    def task(self, user: UserRecord, item_id: int) -> Task:
        """An item the user holds a claim on or has answered before (to change the answer)."""
        assert user.id is not None
        claim = self.store.open_claim(self._pid, user.id)
        if claim is not None and claim.item_id == item_id:
            return self._task(user, item_id, claim.expires_at)
        if self._own(user, item_id) is None:
            raise NotFoundError(f"item {item_id} is not in your queue")
        return self._task(user, item_id, None)

    def _task(self, user: UserRecord, item_id: int, expires_at: Any) -> Task:
        item = self.store.items(self._pid, ids=[item_id])[0]
        return Task(item, self._suggestion(item_id), self._own(user, item_id), expires_at)

    def _own(self, user: UserRecord, item_id: int) -> AnnotationRecord | None:
        assert user.id is not None
        return self.store.user_annotation(self._pid, user.id, item_id)

    def _suggestion(self, item_id: int) -> Suggestion | None:
        return _suggestion(self.store.votes(self._pid, item_ids=[item_id],
                                            kinds=(*SUGGESTION_KINDS, "human")))

    def submit(self, user: UserRecord, item_id: int, answer: Answer | Mapping[str, Any],
               seconds: float | None = None) -> SubmitResult:
        """Store the user's answer durably and close their claim.

        ``answer`` is an :class:`Answer`, or the raw answer (class names, boxes in pixels)
        that :func:`parse_answer` checks against the schema and the item's image size.
        Everything is checked and written in one transaction: a claim expiring meanwhile
        cannot let the answer in after the item went to someone else.

        Raises
        ------
        NotFoundError
            If the item is not in this project.
        ValidationError
            If a raw answer does not fit the task or the image.
        ConflictError
            If the claim expired and the item went to others, or a honeypot is answered twice.
        """
        assert user.id is not None
        st = self.project.settings

        def parse(width: int | None, height: int | None,
                  text: Callable[[], str | None]) -> Answer:
            if isinstance(answer, Answer):
                return answer
            schema = self.project.schema
            return parse_answer(schema, answer, (width, height),
                                text=text() if schema.task_type.has_spans else None,
                                allow_overlap=st.allow_overlap)

        done = self.store.submit_task(
            self._pid, user.id, user.name, item_id, parse, seconds=seconds,
            max_seconds=MAX_SECONDS, overlap=st.overlap, minutes=st.claim_minutes)
        if done is None:
            raise ConflictError(
                "your claim on this item expired and it went to other annotators; "
                "your answer was not stored"
            )
        feedback = None
        gold = done.gold
        if done.honeypot and gold is not None and st.honeypot_feedback:
            expected = Answer(gold.label, gold.labels, gold.boxes, gold.spans)
            feedback = Feedback(answers_match(done.annotation, gold), expected)
        return SubmitResult(done.annotation, feedback)

    def skip(self, user: UserRecord, item_id: int) -> None:
        """Skip an item: it returns to the queue for others, never to this user."""
        assert user.id is not None
        self.store.items(self._pid, ids=[item_id])
        self.store.finish_claim(self._pid, user.id, item_id, "skipped")

    def last_answered(self, user: UserRecord, *, before: int | None = None) -> int | None:
        """The item the user answered last (or last before item ``before``) that may
        still be changed (for undo); honeypots are never reopened."""
        assert user.id is not None
        return self.store.last_submitted(self._pid, user.id, before=before)

    def counts(self, user: UserRecord, *, limit: int | None = None) -> QueueCounts:
        """How many items the user answered and skipped, and how many wait for them
        (with ``limit``: counted up to it, ``more`` when at least that many wait, so the
        cost follows the limit and the user's work, not the project's size)."""
        assert user.id is not None
        got = self.store.assignment_counts(self._pid, user.id)
        waiting = self.store.available_items(self._pid, user.id,
                                             overlap=self.project.settings.overlap,
                                             limit=limit)
        return QueueCounts(got.get("submitted", 0), got.get("skipped", 0), waiting,
                           more=limit is not None and waiting >= limit)
