"""Review and oversight: what needs a reviewer, their decisions, scorecards, dashboard.

A reviewer's accept or correct is stored as an annotation of a ``gold`` source named
``review:<reviewer>``, so it enters the label matrix as gold and can serve as a honeypot.
Send-back asks one more annotator to label the item.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from statistics import median
from typing import Any, Literal

from sqlalchemy import select

from labelloop.core.records import AnnotationRecord, ItemRecord, UserRecord
from labelloop.errors import ValidationError
from labelloop.services.queue import Answer, answers_match
from labelloop.storage.models import AnnotationRow, SourceRow, utcnow
from labelloop.storage.server_models import ItemQueueRow, ReviewDecisionRow
from labelloop.storage.store import ProjectInfo, Store, annotation_record

Decision = Literal["accept", "correct", "send_back"]
DECISIONS: tuple[str, ...] = ("accept", "correct", "send_back")
REASONS = ("needs_review", "disagreement", "honeypot_miss", "check")


@dataclass(frozen=True)
class Vote:
    """One source's annotation of an item, named for the reviewer."""

    kind: str
    source: str
    user_id: int | None
    annotation: AnnotationRecord


@dataclass
class ReviewEntry:
    """An item waiting for review and why."""

    item: ItemRecord
    reasons: list[str]
    votes: list[Vote]
    notes: list[str] = field(default_factory=list)


@dataclass
class Scorecard:
    """One annotator's numbers in one project."""

    user_id: int
    name: str
    labeled: int = 0
    median_seconds: float | None = None
    honeypots: int = 0
    honeypots_correct: int = 0
    compared: int = 0
    agreed: int = 0
    peer_kappa: float | None = None
    consensus_accuracy: float | None = None
    trend: list[float] = field(default_factory=list)
    confusion: list[list[int]] = field(default_factory=list)
    slow_items: int = 0
    fast_items: int = 0
    _seconds: list[float] = field(default_factory=list, repr=False)

    @property
    def honeypot_accuracy(self) -> float | None:
        """Share of honeypots answered like the gold answer (None before any)."""
        return self.honeypots_correct / self.honeypots if self.honeypots else None

    @property
    def honeypot_interval(self) -> tuple[float, float] | None:
        """95% Wilson interval of the honeypot accuracy (None before any honeypot)."""
        if not self.honeypots:
            return None
        from labelloop.quality.honeypots import wilson_interval

        low, high = wilson_interval(self.honeypots_correct, self.honeypots)
        return float(low), float(high)

    @property
    def agreement(self) -> float | None:
        """Share of pairwise comparisons with other annotators that agree."""
        return self.agreed / self.compared if self.compared else None


def _when(ts: datetime | None) -> datetime:
    if ts is None:
        return datetime.min.replace(tzinfo=utcnow().tzinfo)
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=utcnow().tzinfo)


class Review:
    """Review queue, decisions and quality numbers of one project."""

    def __init__(self, store: Store, project: ProjectInfo) -> None:
        self.store = store
        self.project = project

    def _votes(self, item_ids: list[int] | None = None) -> dict[int, list[Vote]]:
        q = (
            select(SourceRow.kind, SourceRow.name, SourceRow.user_id, AnnotationRow)
            .join(AnnotationRow, AnnotationRow.source_id == SourceRow.id)
            .where(SourceRow.project_id == self.project.id)
            .order_by(AnnotationRow.item_id, SourceRow.id)
        )
        if item_ids is not None:
            q = q.where(AnnotationRow.item_id.in_(item_ids))
        out: dict[int, list[Vote]] = defaultdict(list)
        with self.store.snapshot() as s:
            for kind, name, uid, row in s.execute(q).all():
                out[row.item_id].append(Vote(kind, name, uid, annotation_record(row)))
        return out

    def _decided(self) -> dict[int, datetime]:
        with self.store.snapshot() as s:
            rows = s.execute(
                select(ReviewDecisionRow.item_id, ReviewDecisionRow.created_at)
                .where(ReviewDecisionRow.project_id == self.project.id)
            ).all()
        out: dict[int, datetime] = {}
        for item_id, ts in rows:
            out[item_id] = max(out.get(item_id, _when(None)), _when(ts))
        return out

    @staticmethod
    def reasons(votes: list[Vote]) -> list[str]:
        """Why an item's votes need a reviewer (empty when they do not)."""
        humans = [v.annotation for v in votes if v.kind == "human"]
        golds = [v.annotation for v in votes if v.kind == "gold"]
        out = []
        if any(v.annotation.needs_review for v in votes):
            out.append("needs_review")
        if not golds and any(not answers_match(humans[0], h) for h in humans[1:]):
            out.append("disagreement")
        if golds and any(not answers_match(h, golds[-1]) for h in humans):
            out.append("honeypot_miss")
        return out

    def check_flags(self, votes: dict[int, list[Vote]] | None = None) -> dict[int, list[str]]:
        """Automated checks of :mod:`labelloop.quality.checks` per item, as reasons.

        Spammer patterns (same label, too fast, chance-level agreement) and human labels
        that contradict a confident model; single-label tasks only.
        """
        from labelloop.quality.checks import find_model_disagreements, find_spammers

        if not self.project.schema.task_type.single_label:
            return {}
        votes = self._votes() if votes is None else votes
        rows, secs = [], []
        model: dict[int, list[float]] = {}
        names = self.project.schema.names
        k = len(names)
        for item_id, item_votes in votes.items():
            for v in item_votes:
                a = v.annotation
                if v.kind == "human" and a.label is not None:
                    rows.append((item_id, v.source, names[a.label]))
                    secs.append(a.seconds)
                elif v.kind in ("model", "label_model") and a.label is not None:
                    model[item_id] = a.probs if a.probs and len(a.probs) == k else [
                        (a.confidence or 0.0) if c == a.label
                        else (1 - (a.confidence or 0.0)) / max(k - 1, 1) for c in range(k)]
        out: dict[int, list[str]] = defaultdict(list)
        if not rows:
            return out
        seconds = None if any(x is None for x in secs) else [float(x) for x in secs]  # type: ignore[arg-type]
        flags = find_spammers(rows, seconds=seconds)
        if model:
            items = sorted(model)
            flags += find_model_disagreements(rows, [model[i] for i in items], items=items,
                                              classes=names)
        for f in flags:
            out[int(f.item)].append(f"{f.annotator}: {f.reason}")  # type: ignore[call-overload]
        return out

    def queue(self, *, reason: str | None = None, limit: int = 100) -> list[ReviewEntry]:
        """Items flagged since their last review decision, oldest item first."""
        if reason is not None and reason not in REASONS:
            raise ValidationError(f"unknown reason {reason!r}; expected one of {REASONS}")
        decided = self._decided()
        all_votes = self._votes()
        checks = self.check_flags(all_votes)
        flagged: list[tuple[int, list[str], list[Vote]]] = []
        for item_id, votes in all_votes.items():
            newest = max((_when(v.annotation.created_at) for v in votes if v.kind != "gold"),
                         default=None)
            if newest is None or (item_id in decided and decided[item_id] >= newest):
                continue
            why = self.reasons(votes) + (["check"] if item_id in checks else [])
            if why and (reason is None or reason in why):
                flagged.append((item_id, why, votes))
            if len(flagged) >= limit:
                break
        items = {it.id: it for it in self.store.items(self.project.id,
                                                      ids=[f[0] for f in flagged])}
        return [ReviewEntry(items[i], why, votes, checks.get(i, []))
                for i, why, votes in flagged]

    def entry(self, item_id: int) -> ReviewEntry:
        """One item with all its votes, flagged or not (raises NotFoundError)."""
        item = self.store.items(self.project.id, ids=[item_id])[0]
        all_votes = self._votes()
        votes = all_votes.get(item_id, [])
        notes = self.check_flags(all_votes).get(item_id, [])
        return ReviewEntry(item, self.reasons(votes) + (["check"] if notes else []), votes, notes)

    def decide(self, reviewer: UserRecord, item_id: int, decision: str,
               answer: Answer | None = None, note: str = "") -> AnnotationRecord | None:
        """Record a decision; accept/correct store ``answer`` as the reviewer's gold vote.

        Raises
        ------
        ValidationError
            If the decision is unknown, or accept/correct comes without an answer.
        NotFoundError
            If the item is not in this project.
        """
        if decision not in DECISIONS:
            raise ValidationError(f"unknown decision {decision!r}; expected one of {DECISIONS}")
        if decision != "send_back" and answer is None:
            raise ValidationError(f"'{decision}' needs the answer to keep")
        self.store.items(self.project.id, ids=[item_id])
        now = utcnow()
        value: dict[str, Any] = {}
        record = None
        if answer is not None and decision != "send_back":
            source = self.store.ensure_source(self.project.id, "gold", f"review:{reviewer.name}",
                                              user_id=reviewer.id)
            record = AnnotationRecord(item_id=item_id, source_id=source.id,  # type: ignore[arg-type]
                                      label=answer.label, labels=answer.labels,
                                      boxes=answer.boxes, confidence=1.0, created_at=now)
            self.store.upsert_annotations(self.project.id, [record])
            value = record.model_dump(mode="json", include={"label", "labels", "boxes"})
        with self.store.write() as s:
            s.add(ReviewDecisionRow(project_id=self.project.id, item_id=item_id,
                                    reviewer_id=reviewer.id, decision=decision, value=value,
                                    note=note[:2000], created_at=now))
            if decision == "send_back":
                row = s.get(ItemQueueRow, item_id)
                if row is None:
                    s.add(ItemQueueRow(item_id=item_id, extra_overlap=1))
                else:
                    row.extra_overlap += 1
        return record

    def scorecards(self, users: list[UserRecord],
                   all_votes: dict[int, list[Vote]] | None = None) -> list[Scorecard]:
        """Per-annotator counts, speed, honeypot accuracy and agreement with others
        (``all_votes``: the project's votes when the caller has read them already)."""
        names = {u.id: u.name for u in users}
        cards: dict[int, Scorecard] = {}
        votes_by_item = self._votes() if all_votes is None else all_votes
        for votes in votes_by_item.values():
            humans = [v for v in votes if v.kind == "human" and v.user_id is not None]
            golds = [v.annotation for v in votes if v.kind == "gold"]
            for v in humans:
                uid = int(v.user_id)  # type: ignore[arg-type]
                card = cards.setdefault(uid, Scorecard(uid, names.get(uid, v.source)))
                card.labeled += 1
                if v.annotation.seconds is not None:
                    card._seconds.append(v.annotation.seconds)
                if golds:
                    card.honeypots += 1
                    card.honeypots_correct += answers_match(v.annotation, golds[-1])
                for other in humans:
                    if other is not v:
                        card.compared += 1
                        card.agreed += answers_match(v.annotation, other.annotation)
        for card in cards.values():
            card.median_seconds = median(card._seconds) if card._seconds else None
        if self.project.schema.task_type.single_label:
            self._add_quality_engine_numbers(cards, votes_by_item)
        return sorted(cards.values(), key=lambda c: c.name)

    def _add_quality_engine_numbers(
        self, cards: dict[int, Scorecard], votes_by_item: dict[int, list[Vote]]
    ) -> None:
        """Peer kappa, consensus accuracy, confusion, speed outliers and trend from
        :func:`labelloop.quality.scorecards`.

        The reference for the trend and the confusion matrix (rows: reference class,
        columns: the annotator's) is the gold answer where one exists, else the consensus of
        every annotator (Dawid-Skene anchored on gold), so a card shows numbers about the
        annotator, never another person's label.
        """
        from labelloop.quality import scorecards as quality_scorecards

        rows: list[tuple[int, int, int]] = []
        times: list[datetime] = []
        seconds: list[float] = []
        gold: dict[int, int] = {}
        for item_id, votes in votes_by_item.items():
            for v in votes:
                label = v.annotation.label
                if label is None:
                    continue
                if v.kind == "gold":
                    gold[item_id] = label
                elif v.kind == "human" and v.user_id is not None and v.user_id in cards:
                    rows.append((item_id, v.user_id, label))
                    times.append(_when(v.annotation.created_at))
                    sec = v.annotation.seconds
                    seconds.append(float("nan") if sec is None else sec)
        if not rows:
            return
        timed = not any(math.isnan(x) for x in seconds)
        k = len(self.project.schema.names)
        for q in quality_scorecards(rows, gold=gold or None, times=times,
                                    seconds=seconds if timed else None,
                                    classes=list(range(k))):
            card = cards[int(q.annotator)]  # type: ignore[call-overload]
            card.peer_kappa = None if math.isnan(q.peer_kappa) else q.peer_kappa
            card.consensus_accuracy = q.consensus_accuracy
            card.trend = [round(x, 4) for x in q.trend]
            card.confusion = q.confusion
            card.slow_items, card.fast_items = len(q.slow_items), len(q.fast_items)

    def dashboard(self, users: list[UserRecord]) -> dict[str, Any]:
        """Progress, agreement, honeypot accuracy, label-model coverage, labels saved."""
        votes = self._votes()
        n_items = self.store.count_items(self.project.id)
        threshold = self.project.settings.review_threshold
        lm_items = saved = compared = agreed = 0
        for item_votes in votes.values():
            kinds = {v.kind for v in item_votes}
            if kinds & {"label_model", "labeling_function"}:
                lm_items += 1
            auto = [v.annotation for v in item_votes if v.kind in ("label_model", "model")]
            if not kinds & {"human", "gold"} and any(
                (a.confidence or 0.0) >= threshold and not a.needs_review for a in auto
            ):
                saved += 1
            humans = [v.annotation for v in item_votes if v.kind == "human"]
            for i, a in enumerate(humans):
                for b in humans[i + 1:]:
                    compared += 1
                    agreed += answers_match(a, b)
        return {
            "status": self.store.status(self.project.id),
            "items": n_items,
            "agreement": agreed / compared if compared else None,
            "pairs_compared": compared,
            "label_model_coverage": lm_items / n_items if n_items else 0.0,
            "human_labels_saved": saved,
            "review_queue": len(self.queue(limit=10_000)),
            "scorecards": self.scorecards(users, votes),
        }
