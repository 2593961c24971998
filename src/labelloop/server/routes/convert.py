"""Service objects -> API bodies (labels by class name)."""

from __future__ import annotations

from labelloop.server.schemas.api import (
    AnswerOut,
    FeedbackOut,
    ItemOut,
    ReviewEntryOut,
    ScorecardOut,
    SubmitOut,
    SuggestionOut,
    TaskOut,
    VoteOut,
)
from labelloop.services.project import ProjectInfo
from labelloop.services.queue import SubmitResult, Task
from labelloop.services.review import ReviewEntry, Scorecard


def task_out(p: ProjectInfo, t: Task) -> TaskOut:
    """What an annotator sees of a task: item, model suggestion, own earlier answer."""
    sug = None
    if t.suggestion is not None:
        s = t.suggestion
        base = AnswerOut.of(p.schema, s.label, s.labels, s.boxes, s.spans)
        sug = SuggestionOut(**base.model_dump(), source=s.source, confidence=s.confidence)
    prev = None
    if t.previous is not None:
        prev = AnswerOut.of(p.schema, t.previous.label, t.previous.labels, t.previous.boxes,
                            t.previous.spans)
    return TaskOut(item=ItemOut.of(p.id, t.item), suggestion=sug, previous=prev,
                   expires_at=t.expires_at)


def submit_out(p: ProjectInfo, r: SubmitResult) -> SubmitOut:
    """An acknowledged answer with honeypot feedback, if any."""
    a = r.annotation
    fb = None
    if r.feedback is not None:
        e = r.feedback.expected
        fb = FeedbackOut(correct=r.feedback.correct,
                         expected=AnswerOut.of(p.schema, e.label, e.labels, e.boxes, e.spans))
    return SubmitOut(item_id=a.item_id,
                     answer=AnswerOut.of(p.schema, a.label, a.labels, a.boxes, a.spans),
                     seconds=a.seconds, feedback=fb)


def entry_out(p: ProjectInfo, e: ReviewEntry) -> ReviewEntryOut:
    """A review entry with every vote."""
    return ReviewEntryOut(
        item=ItemOut.of(p.id, e.item), reasons=e.reasons,
        votes=[VoteOut.of(p.schema, v.kind, v.source, v.annotation) for v in e.votes],
        notes=e.notes,
    )


def scorecard_out(c: Scorecard) -> ScorecardOut:
    """An annotator's scorecard."""
    return ScorecardOut(user_id=c.user_id, name=c.name, labeled=c.labeled,
                        median_seconds=c.median_seconds, honeypots=c.honeypots,
                        honeypot_accuracy=c.honeypot_accuracy,
                        honeypot_interval=c.honeypot_interval, agreement=c.agreement,
                        peer_kappa=c.peer_kappa, consensus_accuracy=c.consensus_accuracy,
                        trend=c.trend, confusion=c.confusion, slow_items=c.slow_items,
                        fast_items=c.fast_items, honeypot_span_f1=c.honeypot_span_f1)
