"""Annotator scorecards in a project, from the quality engine.

For single-label tasks every number comes from :func:`labelloop.quality.scorecards`
(labels, speed, honeypot accuracy with its Wilson interval, peer kappa, consensus
accuracy, confusion, trend). Multi-label and box answers are not classes the engine can
compare, so for them a card counts labels, speed and honeypots with :func:`answers_match`;
for span answers it also scores the honeypots with span F1 (exact match, micro-averaged).
Pairwise agreement with other annotators uses :func:`answers_match` for every task.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from statistics import median

from labelloop.core.records import SourceKind, Span, UserRecord
from labelloop.core.schema import LabelSchema
from labelloop.services.queue import answers_match
from labelloop.storage import Vote


@dataclass(frozen=True)
class Scorecard:
    """One annotator's numbers in one project."""

    user_id: int
    name: str
    labeled: int = 0
    median_seconds: float | None = None
    honeypots: int = 0
    honeypots_correct: int = 0
    honeypot_interval: tuple[float, float] | None = None
    compared: int = 0
    agreed: int = 0
    peer_kappa: float | None = None
    consensus_accuracy: float | None = None
    trend: list[float] = field(default_factory=list)
    confusion: list[list[int]] = field(default_factory=list)
    slow_items: int = 0
    fast_items: int = 0
    honeypot_span_f1: float | None = None

    @property
    def honeypot_accuracy(self) -> float | None:
        """Share of honeypots answered like the gold answer (None before any)."""
        return self.honeypots_correct / self.honeypots if self.honeypots else None

    @property
    def agreement(self) -> float | None:
        """Share of pairwise comparisons with other annotators that agree."""
        return self.agreed / self.compared if self.compared else None


def when(ts: datetime | None) -> datetime:
    """A sortable, zone-aware time (the earliest one for None)."""
    if ts is None:
        return datetime.min.replace(tzinfo=UTC)
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def _none_if_nan(x: float) -> float | None:
    return None if math.isnan(x) else x


def build_scorecards(schema: LabelSchema, votes_by_item: Mapping[int, Iterable[Vote]],
                     users: Iterable[UserRecord]) -> list[Scorecard]:
    """A scorecard per annotator who labeled in the project, sorted by name.

    Parameters
    ----------
    schema:
        The project's label schema (its task type decides how answers compare).
    votes_by_item:
        Every vote of the project, by item.
    users:
        Known users (their names label the cards).
    """
    names = {u.id: u.name for u in users}
    card_names: dict[int, str] = {}
    pairs: dict[int, list[int]] = {}  # user -> [compared, agreed]
    for votes in votes_by_item.values():
        humans = [
            (v.user_id, v) for v in votes if v.kind == SourceKind.HUMAN and v.user_id is not None
        ]
        for uid, v in humans:
            card_names.setdefault(uid, names.get(uid, v.source))
            tally = pairs.setdefault(uid, [0, 0])
            for _, other in humans:
                if other is not v:
                    tally[0] += 1
                    tally[1] += answers_match(v.annotation, other.annotation)
    if schema.task_type.single_label:
        cards = _engine_cards(len(schema.names), votes_by_item, card_names)
    else:
        cards = _matched_cards(votes_by_item, card_names)
    out = [replace(cards.get(uid, Scorecard(uid, name)), compared=pairs[uid][0],
                   agreed=pairs[uid][1])
           for uid, name in card_names.items()]
    return sorted(out, key=lambda c: c.name)


def _engine_cards(k: int, votes_by_item: Mapping[int, Iterable[Vote]],
                  card_names: Mapping[int, str]) -> dict[int, Scorecard]:
    """Cards from :func:`labelloop.quality.scorecards`.

    The reference of the trend and the confusion matrix (rows: reference class, columns:
    the annotator's) is the gold answer where one exists, else the consensus of every
    annotator (Dawid-Skene anchored on gold), so a card shows numbers about the annotator,
    never another person's label.
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
            if v.kind == SourceKind.GOLD:
                gold[item_id] = label
            elif v.kind == SourceKind.HUMAN and v.user_id is not None and v.user_id in card_names:
                rows.append((item_id, v.user_id, label))
                times.append(when(v.annotation.created_at))
                sec = v.annotation.seconds
                seconds.append(float("nan") if sec is None else sec)
    if not rows:
        return {}
    timed = not any(math.isnan(x) for x in seconds)
    out: dict[int, Scorecard] = {}
    for q in quality_scorecards(rows, gold=gold or None, times=times,
                                seconds=seconds if timed else None, classes=list(range(k))):
        uid = int(q.annotator)  # type: ignore[call-overload]
        out[uid] = Scorecard(
            uid, card_names[uid], labeled=q.n_labels,
            median_seconds=_none_if_nan(q.median_seconds),
            honeypots=q.gold_n,
            honeypots_correct=round(q.gold_accuracy * q.gold_n) if q.gold_n else 0,
            honeypot_interval=(q.gold_low, q.gold_high) if q.gold_n else None,
            peer_kappa=_none_if_nan(q.peer_kappa), consensus_accuracy=q.consensus_accuracy,
            trend=[round(x, 4) for x in q.trend], confusion=q.confusion,
            slow_items=len(q.slow_items), fast_items=len(q.fast_items),
        )
    return out


def _matched_cards(votes_by_item: Mapping[int, Iterable[Vote]],
                   card_names: Mapping[int, str]) -> dict[int, Scorecard]:
    """Labels, median speed and honeypot accuracy of multi-label and box answers."""
    from labelloop.quality.honeypots import wilson_interval

    labeled: dict[int, int] = {}
    secs: dict[int, list[float]] = {}
    hits: dict[int, list[bool]] = {}
    span_counts: dict[int, list[int]] = {}  # user -> [matched, theirs, gold's]
    for votes in votes_by_item.values():
        votes = list(votes)
        golds = [v.annotation for v in votes if v.kind == SourceKind.GOLD]
        for v in votes:
            uid = v.user_id
            if v.kind != SourceKind.HUMAN or uid is None or uid not in card_names:
                continue
            labeled[uid] = labeled.get(uid, 0) + 1
            if v.annotation.seconds is not None:
                secs.setdefault(uid, []).append(v.annotation.seconds)
            if golds:
                hits.setdefault(uid, []).append(answers_match(v.annotation, golds[-1]))
                if golds[-1].spans is not None:
                    _count_spans(span_counts.setdefault(uid, [0, 0, 0]),
                                 v.annotation.spans or [], golds[-1].spans)
    out: dict[int, Scorecard] = {}
    for uid, n in labeled.items():
        mine = hits.get(uid, [])
        interval = None
        if mine:
            low, high = wilson_interval(sum(mine), len(mine))
            interval = (float(low), float(high))
        out[uid] = Scorecard(uid, card_names[uid], labeled=n,
                             median_seconds=median(secs[uid]) if uid in secs else None,
                             honeypots=len(mine), honeypots_correct=sum(mine),
                             honeypot_interval=interval,
                             honeypot_span_f1=_f1(span_counts[uid]) if uid in span_counts
                             else None)
    return out


def _count_spans(tally: list[int], theirs: Iterable[Span], gold: Iterable[Span]) -> None:
    mine, ref = {s.key() for s in theirs}, {s.key() for s in gold}
    tally[0] += len(mine & ref)
    tally[1] += len(mine)
    tally[2] += len(ref)


def _f1(tally: list[int]) -> float:
    """Span F1 ``2 * matched / (theirs + gold)``; 1.0 when neither holds a span."""
    matched, theirs, gold = tally
    return 2 * matched / (theirs + gold) if theirs + gold else 1.0


BATCH = 20  # an annotator's own card counts agreement over full batches of this many items


def _settled(votes: list[Vote], user_id: int, overlap: int) -> bool:
    """Whether an item counts on the user's own card: not a honeypot, labeled by as many
    people as the overlap asks (at least two), and someone answered after the user (so
    changing one's own answer takes the item off the card instead of probing others)."""
    if any(v.kind == SourceKind.GOLD for v in votes):
        return False
    humans = [v for v in votes if v.kind == SourceKind.HUMAN and v.user_id is not None]
    mine = [v for v in humans if v.user_id == user_id]
    if not mine or len(humans) < max(overlap, 2):
        return False
    t = when(mine[0].annotation.created_at)
    return any(when(v.annotation.created_at) > t for v in humans if v.user_id != user_id)


def own_scorecard(schema: LabelSchema, votes_by_item: Mapping[int, Iterable[Vote]],
                  user: UserRecord, *, overlap: int, honeypot_feedback: bool) -> Scorecard:
    """The card an annotator sees of themselves: delayed and aggregated, never per item.

    Their own numbers (labels given, speed) are shown as they are. Everything that
    depends on other people's labels (agreement, peer kappa, consensus accuracy) is
    computed only over fixed batches: the user's regular items in the order of their
    first answer (the stored annotation's id, which a changed answer keeps), cut into
    batches of :data:`BATCH`; a batch counts once every item in it is settled (see
    :func:`_settled`). Batches never shift, so one more answer by someone else, or a
    changed own answer, never reveals a label: it can only add or drop a whole batch.
    Honeypots are counted only while the project gives honeypot feedback (then every
    answer was scored in the open already).
    The reference classes (confusion matrix) and the trend are never shown.
    """
    uid = user.id or 0
    by_item = {i: list(v) for i, v in votes_by_item.items()}
    full = build_scorecards(schema, by_item, [user])
    base = next((c for c in full if c.user_id == uid), Scorecard(uid, user.name))
    order = sorted((v.annotation.id or 0, i) for i, vs in by_item.items() for v in vs
                   if v.kind == SourceKind.HUMAN and v.user_id == uid
                   and not any(g.kind == SourceKind.GOLD for g in vs))
    mine = [i for _, i in order]
    counted = [i for start in range(0, len(mine) - BATCH + 1, BATCH)
               for i in mine[start:start + BATCH]
               if all(_settled(by_item[j], uid, overlap) for j in mine[start:start + BATCH])]
    peers = build_scorecards(schema, {i: by_item[i] for i in counted}, [user])
    on_batches = next((c for c in peers if c.user_id == uid), Scorecard(uid, user.name))
    honest = base if honeypot_feedback else Scorecard(uid, user.name)
    return replace(
        base, honeypots=honest.honeypots, honeypots_correct=honest.honeypots_correct,
        honeypot_interval=honest.honeypot_interval,
        honeypot_span_f1=honest.honeypot_span_f1, compared=on_batches.compared,
        agreed=on_batches.agreed, peer_kappa=on_batches.peer_kappa,
        consensus_accuracy=on_batches.consensus_accuracy if counted else None,
        trend=[], confusion=[],
    )
