"""Review and oversight: what needs a reviewer, their decisions, scorecards, dashboard.

A reviewer's accept or correct is stored as an annotation of a ``gold`` source named
``review:<reviewer>``, so it enters the label matrix as gold and can serve as a honeypot.
Send-back asks one more annotator to label the item.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Concatenate, Literal, ParamSpec, TypeVar

import numpy as np

from labelloop.core.records import AnnotationRecord, ItemRecord, SourceKind, UserRecord
from labelloop.errors import ValidationError
from labelloop.services.queue import Answer, answers_match, parse_answer
from labelloop.services.readcache import RESULTS, VOTES, KeptVotes
from labelloop.services.scorecards import (
    Scorecard,
    build_scorecards,
    own_scorecard,
)
from labelloop.storage import ItemFlags, ProjectInfo, StoreProtocol, StoreStatus, Vote
from labelloop.storage.llm import LLMRun
from labelloop.storage.loop_rounds import LoopRound
from labelloop.storage.pages import REQUESTED, VotesVersion

__all__ = ["DECISIONS", "REASONS", "Dashboard", "Decision", "Review", "ReviewEntry",
           "Scorecard", "Vote"]

Decision = Literal["accept", "correct", "send_back"]
DECISIONS: tuple[str, ...] = ("accept", "correct", "send_back")
REASONS = ("needs_review", "disagreement", "honeypot_miss", "check", "requested")
PEOPLE = (SourceKind.HUMAN, SourceKind.GOLD)  # the votes scorecards and agreement read
CHECKED = (SourceKind.HUMAN, SourceKind.MODEL, SourceKind.LABEL_MODEL)  # automated checks
# the votes the model-state counts of the status read (people's answers never change them)
MODELS = (SourceKind.MODEL, SourceKind.LABELING_FUNCTION, SourceKind.LABEL_MODEL)
CANDIDATE_PAGE = 1000  # most review candidates read per step of the queue
# the flags of item_stats (kept by triggers) and the reasons they stand for
FLAG_REASONS = ((1, "needs_review"), (2, "disagreement"), (4, "honeypot_miss"),
                (REQUESTED, "requested"))  # requested: sent to review in the data browser
COMPARE = 8  # label sets or boxes (or differing golds): compare the answers here
T = TypeVar("T")
P = ParamSpec("P")


@dataclass
class ReviewEntry:
    """An item waiting for review and why."""

    item: ItemRecord
    reasons: list[str]
    votes: list[Vote]
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Dashboard:
    """A project's progress and quality at a glance.

    Attributes
    ----------
    status:
        Items by split and state, annotations per source.
    items:
        Items in the project.
    agreement, pairs_compared:
        Share of agreeing pairs of human answers on the same item, and how many pairs.
    label_model_coverage:
        Share of items that a label model or labeling function voted on.
    human_labels_saved:
        Items no person labeled that a confident model or label model answered (estimate).
    review_queue:
        Items waiting for a reviewer.
    scorecards:
        One card per annotator.
    llm_runs:
        The newest LLM runs: requests, cached answers, tokens, cost.
    loop_rounds:
        The newest rounds of the closed loop (``labelloop loop``, ``serve --loop``).
    """

    status: StoreStatus
    items: int
    agreement: float | None
    pairs_compared: int
    label_model_coverage: float
    human_labels_saved: int
    review_queue: int
    scorecards: list[Scorecard]
    llm_runs: list[LLMRun] = field(default_factory=list)
    loop_rounds: list[LoopRound] = field(default_factory=list)

    @property
    def people_share(self) -> float:
        """Share of the items a person (or a gold answer) labeled: the human labels spent,
        against labeling every item by hand."""
        st = self.status.states
        return (st.get("human", 0) + st.get("gold", 0)) / self.items if self.items else 0.0

    @property
    def auto_precision(self) -> tuple[float, float, float] | None:
        """The newest committed round's auto-accept rule: target precision, its lower
        bound on the human-checked items (Clopper-Pearson, the weakest class), and the
        share of checked items it would accept; None before a round calibrated."""
        done = [r for r in self.loop_rounds if r.status == "done"]
        cal = done[0].changes.get("calibration") if done else None
        bounds = [b for b in (cal or {}).get("lower_bounds", []) if b is not None]
        if not cal or not bounds:
            return None
        return float(cal["target_precision"]), min(bounds), float(cal.get("coverage", 0.0))


def _one_read(fn: Callable[Concatenate[Review, P], T]) -> Callable[Concatenate[Review, P], T]:
    """A public read of :class:`Review` whose cached parts share one version read."""
    @functools.wraps(fn)
    def read(self: Review, /, *args: P.args, **kwargs: P.kwargs) -> T:
        with self._one_version():
            return fn(self, *args, **kwargs)
    return read


class Review:
    """Review queue, decisions and quality numbers of one project."""

    def __init__(self, store: StoreProtocol, project: ProjectInfo) -> None:
        self.store = store
        self.project = project
        self._seen: VotesVersion | None = None  # versions read once per public read

    @contextmanager
    def _one_version(self) -> Iterator[None]:
        """Inside the block, every cached part of a read (counts, checks, cards) is keyed
        by one read of the project's versions, taken at the start: each part is still
        computed after the version it is kept under was read."""
        if self._seen is not None:  # an outer read holds it
            yield
            return
        self._seen = self.store.votes_versions(self.project.id)
        try:
            yield
        finally:
            self._seen = None

    def _version(self, kinds: tuple[str, ...] | None) -> tuple[int, ...]:
        seen = self._seen if self._seen is not None else self.store.votes_versions(
            self.project.id)
        return seen.of(kinds)

    def _cached(self, what: Hashable, compute: Callable[[], T],
                kinds: tuple[str, ...] | None = None) -> T:
        """``compute()``, or its result kept from an earlier call on the same votes (of
        the source ``kinds`` it reads; all, and the decisions, by default).

        The version is read before the result is computed, so a kept result is never
        older than the version it is kept under.
        """
        version = self._version(kinds)
        schema = (self.project.schema.task, tuple(self.project.schema.names))
        key = (getattr(self.store, "url", id(self.store)), self.project.id, version, schema,
               what)
        return RESULTS.get(key, compute)

    def _people(self) -> dict[int, list[Vote]]:
        """Human and gold votes by item (what scorecards and agreement read), on the items
        where they can count.

        Left out: the items only the largest human source without a user voted on (the
        labels of an imported file, as a rule). Such an item has one vote, of no person
        with a card: it makes no pair to compare, no row of a card and no gold answer, so
        the cards and the agreement are those of every item, for a pass over the items
        the annotators, reviewers and other sources answered.
        """
        kept = self._kept_votes(PEOPLE)
        if not kept.items_of:
            return kept.by_item
        largest = max(kept.items_of, key=lambda sid: len(kept.items_of[sid]))
        source = {s.id: s for s in self.store.sources(self.project.id, kinds=PEOPLE)
                  }.get(largest)
        if source is None or source.kind != SourceKind.HUMAN or source.user_id is not None:
            return kept.by_item
        counted = set().union(*(items for sid, items in kept.items_of.items()
                                if sid != largest))
        return {i: kept.by_item[i] for i in sorted(counted) if i in kept.by_item}

    def _votes(self, kinds: tuple[str, ...], on_items_of: str | None = None
               ) -> dict[int, list[Vote]]:
        """Votes of the source ``kinds`` by item in id order (only on the items a source
        of kind ``on_items_of`` voted on), each item's in source order; do not change them
        (see :meth:`_kept_votes`)."""
        return self._kept_votes(kinds, on_items_of).by_item

    def _kept_votes(self, kinds: tuple[str, ...], on_items_of: str | None = None
                    ) -> KeptVotes:
        """The votes of :meth:`_votes`, with the items of each source.

        Read whole once, then kept (:data:`~labelloop.services.readcache.VOTES`) with the
        version of each source: the next call re-reads only the sources whose votes
        changed since (an annotator's answers), and reads everything again when a source
        went, or when a source of another kind than ``on_items_of`` changed.
        """
        pid = self.project.id
        key = (getattr(self.store, "url", id(self.store)), pid, kinds, on_items_of)
        flat = self._version(kinds)  # read before the votes, never after
        now = dict(zip(flat[::2], flat[1::2], strict=True))
        kept = VOTES.get(key)
        if kept is not None and set(kept.versions) <= set(now):
            dirty = [sid for sid, n in now.items() if kept.versions.get(sid) != n]
            if not dirty:
                return kept
            merged = self._merge(kept, dirty, kinds, on_items_of)
            if merged is not None:
                kept = KeptVotes(now, *merged)
                VOTES.put(key, kept)
                return kept
        by_item = _by_item(self.store.votes_where_kind(pid, kinds, on_items_of=on_items_of))
        kept = KeptVotes(now, by_item, _items_of(by_item))
        VOTES.put(key, kept)
        return kept

    def _merge(self, kept: KeptVotes, dirty: list[int], kinds: tuple[str, ...],
               on_items_of: str | None
               ) -> tuple[dict[int, list[Vote]], dict[int, frozenset[int]]] | None:
        """The kept votes with those of the ``dirty`` sources read again, and the items of
        each source (None: read all)."""
        pid = self.project.id
        if on_items_of is not None:
            kind_of = {s.id: s.kind for s in self.store.sources(pid, kinds=kinds)}
            if any(kind_of.get(sid) != on_items_of for sid in dirty):
                return None
        old = kept.by_item
        gone = set(dirty)
        fresh = _by_item(self.store.votes_of_sources(pid, dirty))
        items_of = dict(kept.items_of)
        touched = set(fresh)
        for sid in dirty:
            touched |= items_of.pop(sid, frozenset())
        for sid, items in _items_of(fresh).items():
            items_of[sid] = items
        out = dict(old)
        new_items = []
        for i in touched:
            if i not in old and on_items_of is not None:
                new_items.append(i)  # its other votes are read below
                continue
            vs = sorted([v for v in old.get(i, []) if v.annotation.source_id not in gone]
                        + fresh.get(i, []), key=lambda v: v.annotation.source_id)
            if vs and (on_items_of is None or any(v.kind == on_items_of for v in vs)):
                out[i] = vs
            else:
                out.pop(i, None)
        if new_items:
            read = {i: vs for i, vs in
                    self.store.item_votes(pid, new_items, kinds=kinds).items()
                    if any(v.kind == on_items_of for v in vs)}
            out.update(read)
            for sid, items in _items_of(read).items():
                items_of[sid] = items_of.get(sid, frozenset()) | items
        # an item dropped above (no votes left on it of a source of ``on_items_of``) may
        # still be listed under the sources whose votes on it were not read again: harmless,
        # a later merge only reads those items again
        return dict(sorted(out.items())), items_of

    @staticmethod
    def reasons(votes: list[Vote]) -> list[str]:
        """Why an item's votes need a reviewer (empty when they do not): ``needs_review``
        only while no person or gold answered it and its final label (the label model's,
        else a model's) is flagged, the rule of the ``needs_review`` item state."""
        humans = [v.annotation for v in votes if v.kind == SourceKind.HUMAN]
        golds = [v.annotation for v in votes if v.kind == SourceKind.GOLD]
        out = []
        if not humans and not golds and _unsure(votes):
            out.append("needs_review")
        if not golds and any(not answers_match(humans[0], h) for h in humans[1:]):
            out.append("disagreement")
        if golds and any(not answers_match(h, golds[-1]) for h in humans):
            out.append("honeypot_miss")
        return out

    @_one_read
    def check_flags(self, votes: dict[int, list[Vote]] | None = None) -> dict[int, list[str]]:
        """Automated checks of :mod:`labelloop.quality.checks` per item, as reasons.

        Spammer patterns (same label, too fast, chance-level agreement) and human labels
        that contradict a confident model; single-label tasks only.
        """
        if not self.project.schema.task_type.single_label:
            return {}
        if votes is None:  # human answers, and models' votes on the items people answered
            return self._cached("checks", lambda: self._checks(
                self._votes(CHECKED, SourceKind.HUMAN)), CHECKED)
        return self._checks(votes)

    def _checks(self, votes: dict[int, list[Vote]]) -> dict[int, list[str]]:
        from labelloop.quality.checks import find_model_disagreements, find_spammers

        items, who, labels, secs = [], [], [], []
        model: dict[int, list[float]] = {}
        names = self.project.schema.names
        k = len(names)
        models = (SourceKind.MODEL, SourceKind.LABEL_MODEL)
        for item_id, item_votes in votes.items():
            for v in item_votes:
                a = v.annotation
                if a.label is None:
                    continue
                if v.kind == SourceKind.HUMAN:
                    items.append(item_id)
                    who.append(v.source)
                    labels.append(names[a.label])
                    secs.append(a.seconds)
                elif v.kind in models:
                    model[item_id] = a.probs if a.probs and len(a.probs) == k else [
                        (a.confidence or 0.0) if c == a.label
                        else (1 - (a.confidence or 0.0)) / max(k - 1, 1) for c in range(k)]
        out: dict[int, list[str]] = defaultdict(list)
        if not items:
            return out
        # as columns of arrays: encoded without a Python pass over the rows
        table = {"item": np.asarray(items, dtype=np.int64), "annotator": np.asarray(who),
                 "label": np.asarray(labels)}
        seconds = None if any(x is None for x in secs) else [float(x) for x in secs]  # type: ignore[arg-type]
        flags = find_spammers(table, seconds=seconds)
        if model:
            scored = sorted(model)
            flags += find_model_disagreements(table, [model[i] for i in scored], items=scored,
                                              classes=names)
        for f in flags:
            out[int(f.item)].append(f"{f.annotator}: {f.reason}")  # type: ignore[call-overload]
        return out

    def _flagged(self, reason: str | None, limit: int, after: int = 0
                 ) -> Iterator[tuple[int, list[str], list[Vote] | None, list[str]]]:
        """Flagged items not decided since their newest vote, in id order, up to ``limit``,
        from the first item id above ``after``.

        Candidates come a page at a time from the store: the flagged items of
        ``item_stats`` (their reasons kept by triggers as their votes are written) and the
        items the automated checks flag, so the work follows the page, not the project.
        Label sets and boxes are compared here, from the item's votes, which then come
        along (else None).
        """
        if reason is not None and reason not in REASONS:
            raise ValidationError(f"unknown reason {reason!r}; expected one of {REASONS}")
        pid = self.project.id
        checks = self.check_flags()
        checked = sorted(checks)
        if after < 0:
            raise ValidationError(f"expected after >= 0, got {after}")
        # the flags that can give the reason asked for (answers to compare always can)
        bits = {name: bit for bit, name in FLAG_REASONS}
        mask = None if reason is None else COMPARE | bits[reason] if reason in bits else 0
        found, step = 0, min(max(2 * limit, 20), CANDIDATE_PAGE)
        while found < limit:
            page, last = self.store.flagged_items(pid, after=after, limit=step, also=checked,
                                                  mask=mask)
            step = min(2 * step, CANDIDATE_PAGE)
            for f in self._undecided(page):
                item_id = f.item_id
                votes = None
                if f.flags & COMPARE:  # label sets and boxes: compared as answers
                    votes = self.store.item_votes(pid, [item_id])[item_id]
                    why = self.reasons(votes) + (["requested"] if f.flags & REQUESTED else [])
                else:
                    why = [name for bit, name in FLAG_REASONS if f.flags & bit]
                why += ["check"] if item_id in checks else []
                if why and (reason is None or reason in why):
                    yield item_id, why, votes, checks.get(item_id, [])
                    found += 1
                    if found >= limit:
                        return
            if last is None:
                return
            after = last

    @_one_read
    def queue(self, *, reason: str | None = None, limit: int = 100,
              after: int = 0) -> list[ReviewEntry]:
        """Items flagged since their last review decision, oldest item first.

        ``after``: start after this item id (the last id of the previous page).
        """
        flagged = list(self._flagged(reason, limit, after))
        ids = [f[0] for f in flagged]
        items = {it.id: it for it in self.store.items(self.project.id, ids=ids)}
        read = self.store.item_votes(self.project.id, [f[0] for f in flagged if f[2] is None])
        return [ReviewEntry(items[i], why, read[i] if votes is None else votes, notes)
                for i, why, votes, notes in flagged]

    @_one_read
    def count(self, *, reason: str | None = None, limit: int = 10_000) -> int:
        """How many items wait for a reviewer (counted up to ``limit``): the items
        :meth:`queue` lists, page after page.

        Items flagged from plain labels are counted in SQL (the flagged items of
        ``item_stats`` without a review decision since their newest vote); only those
        whose answers are compared here (label sets, boxes, differing golds) and those
        that only the automated checks flag are looked at one by one.

        Raises
        ------
        ValidationError
            If ``reason`` is not one of :data:`REASONS`.
        """
        if reason is not None and reason not in REASONS:
            raise ValidationError(f"unknown reason {reason!r}; expected one of {REASONS}")
        return self._cached(("count", reason, limit), lambda: self._count(reason, limit))

    def _count(self, reason: str | None, limit: int) -> int:
        pid = self.project.id
        checks = self.check_flags()
        bits = {name: bit for bit, name in FLAG_REASONS}
        plain = sum(bits.values()) if reason is None else bits.get(reason, 0)
        n, compared = self.store.count_flagged(pid, (plain, COMPARE), (COMPARE, 0))
        after = 0
        while compared and n < limit:  # answers compared here, a page at a time
            page, last = self.store.flagged_items(pid, after=after, limit=CANDIDATE_PAGE,
                                                  mask=COMPARE)
            waiting = [f.item_id for f in self._undecided(page)]
            votes = self.store.item_votes(pid, waiting) if waiting else {}
            for item_id in waiting:
                why = self.reasons(votes[item_id]) + (["check"] if item_id in checks else [])
                n += bool(why) and (reason is None or reason in why)
            if last is None:
                break
            after = last
        if reason in (None, "requested"):  # sent to review, not counted above
            n += self.store.count_requested(pid, 0 if reason else plain | COMPARE)
        if reason in (None, "check") and checks:  # flagged by the checks alone
            found, _ = self.store.flagged_items(pid, limit=1, also=sorted(checks), mask=0)
            n += len(self._undecided([f for f in found if not f.flags & (plain | COMPARE)]))
        return min(n, limit)

    def _undecided(self, flagged: list[ItemFlags]) -> list[ItemFlags]:
        """The items of ``flagged`` with a vote newer than their last review decision."""
        ids = [f.item_id for f in flagged]
        decided = self.store.decision_times(self.project.id, ids) if ids else {}
        return [f for f in flagged if f.newest is not None
                and not (f.item_id in decided and decided[f.item_id] >= f.newest)]

    @_one_read
    def entry(self, item_id: int) -> ReviewEntry:
        """One item with all its votes, flagged or not (raises NotFoundError)."""
        item = self.store.items(self.project.id, ids=[item_id])[0]
        votes = self.store.item_votes(self.project.id, [item_id])[item_id]
        # the automated checks flag only items a person answered
        answered = any(v.kind == SourceKind.HUMAN for v in votes)
        notes = self.check_flags().get(item_id, []) if answered else []
        return ReviewEntry(item, self.reasons(votes) + (["check"] if notes else []), votes, notes)

    def decide(self, reviewer: UserRecord, item_id: int, decision: str,
               answer: Answer | Mapping[str, Any] | None = None, note: str = "", *,
               vote: str | None = None) -> AnnotationRecord | None:
        """Record a decision; accept/correct store the answer as the reviewer's gold vote.

        The answer to keep is an :class:`Answer`, a raw answer (class names, boxes in pixels,
        checked like an annotator's against the schema and the image), or ``vote``: the name
        of the source whose answer the reviewer accepts. ``send_back`` keeps no answer.

        Raises
        ------
        ValidationError
            If the decision is unknown, accept/correct comes without an answer, the answer
            does not fit the task, or ``vote`` names no vote on the item.
        NotFoundError
            If the item is not in this project.
        """
        if decision not in DECISIONS:
            raise ValidationError(f"unknown decision {decision!r}; expected one of {DECISIONS}")
        item = self.store.items(self.project.id, ids=[item_id])[0]
        if decision == "send_back":
            answer = None
        elif vote is not None:
            chosen = [v for v in self.store.item_votes(self.project.id, [item_id])[item_id]
                      if v.source == vote]
            if not chosen:
                raise ValidationError(f"no vote from {vote!r} on item {item_id} to accept")
            a = chosen[0].annotation
            answer = Answer(a.label, a.labels, a.boxes, a.spans)
        elif answer is None:
            raise ValidationError(f"'{decision}' needs the answer to keep")
        elif not isinstance(answer, Answer):
            answer = parse_answer(self.project.schema, answer, (item.width, item.height),
                                  text=item.text,
                                  allow_overlap=self.project.settings.allow_overlap)
        now = _now()
        value: dict[str, Any] = {}
        record = None
        if answer is not None:
            source = self.store.ensure_source(
                self.project.id, SourceKind.GOLD, f"review:{reviewer.name}", user_id=reviewer.id
            )
            record = AnnotationRecord(item_id=item_id, source_id=source.id,  # type: ignore[arg-type]
                                      label=answer.label, labels=answer.labels,
                                      boxes=answer.boxes, spans=answer.spans,
                                      confidence=1.0, created_at=now)
            self.store.upsert_annotations(self.project.id, [record])
            value = record.model_dump(mode="json", include={"label", "labels", "boxes"})
            if answer.spans is not None:
                value["spans"] = [sp.model_dump(exclude_none=True) for sp in answer.spans]
        assert reviewer.id is not None
        self.store.record_decision(self.project.id, item_id, reviewer.id, decision, value,
                                   note[:2000], now)
        return record

    def send_back_note(self, item_id: int) -> str | None:
        """What the reviewer wrote when sending the item back, while that is the item's
        newest decision: shown to the annotator who labels it next."""
        return self.store.send_back_note(self.project.id, item_id)

    @_one_read
    def scorecards(self, users: list[UserRecord],
                   all_votes: dict[int, list[Vote]] | None = None) -> list[Scorecard]:
        """Per-annotator counts, speed, honeypot accuracy and agreement with others
        (``all_votes``: the project's votes when the caller has read them already)."""
        if all_votes is not None:
            return build_scorecards(self.project.schema, all_votes, users)
        return self._cached(("cards", _who(users)), lambda: build_scorecards(
            self.project.schema, self._people(), users), PEOPLE)

    @_one_read
    def own_scorecard(self, user: UserRecord) -> Scorecard:
        """The card an annotator sees of themselves: delayed, aggregated over full batches
        of settled items, no honeypots while feedback is off, no per-item reference (see
        :func:`labelloop.services.scorecards.own_scorecard`). Reviewers and admins see
        everyone's full cards through :meth:`scorecards`."""
        st = self.project.settings

        def compute() -> Scorecard:
            mine = self.store.votes_where_kind(self.project.id, PEOPLE, user_id=user.id)
            return own_scorecard(self.project.schema, _by_item(mine), user,
                                 overlap=st.overlap, honeypot_feedback=st.honeypot_feedback)

        return self._cached(("own", *_who([user]), st.overlap, st.honeypot_feedback), compute,
                            PEOPLE)

    @_one_read
    def dashboard(self, users: list[UserRecord]) -> Dashboard:
        """Progress, agreement, honeypot accuracy, label-model coverage, labels saved."""
        pid, threshold = self.project.id, self.project.settings.review_threshold
        model = self._cached(("model counts", threshold),
                             lambda: self.store.model_counts(pid, threshold), MODELS)
        status, lm_items, saved = self.store.status_with_coverage(pid, threshold, model)
        n_items = status.items
        compared, agreed, cards = self._cached(("people", _who(users)),
                                               lambda: self._agreement(users), PEOPLE)
        return Dashboard(
            status=status,
            items=n_items,
            agreement=agreed / compared if compared else None,
            pairs_compared=compared,
            label_model_coverage=lm_items / n_items if n_items else 0.0,
            human_labels_saved=saved,
            review_queue=self.count(limit=10_000),
            scorecards=cards,
            llm_runs=self.store.llm_runs(self.project.id, limit=5),
            loop_rounds=self.store.loop_rounds(self.project.id, limit=5),
        )

    def _agreement(self, users: list[UserRecord]) -> tuple[int, int, list[Scorecard]]:
        """Pairs of human answers on one item, how many agree, and the scorecards."""
        votes = self._people()
        compared = agreed = 0
        for item_votes in votes.values():
            humans = [v.annotation for v in item_votes if v.kind == SourceKind.HUMAN]
            for i, a in enumerate(humans):
                for b in humans[i + 1:]:
                    compared += 1
                    agreed += answers_match(a, b)
        return compared, agreed, build_scorecards(self.project.schema, votes, users)


def _who(users: Iterable[UserRecord]) -> tuple[tuple[int | None, str], ...]:
    return tuple((u.id, u.name) for u in users)


def _items_of(by_item: Mapping[int, list[Vote]]) -> dict[int, frozenset[int]]:
    """The items each source voted on."""
    out: dict[int, set[int]] = defaultdict(set)
    for item_id, votes in by_item.items():
        for v in votes:
            out[v.annotation.source_id].add(item_id)
    return {sid: frozenset(items) for sid, items in out.items()}


def _by_item(votes: Iterable[Vote]) -> dict[int, list[Vote]]:
    out: dict[int, list[Vote]] = defaultdict(list)
    for v in votes:
        out[v.annotation.item_id].append(v)
    return out


def _now() -> datetime:
    return datetime.now(UTC)


def _unsure(votes: list[Vote]) -> bool:
    """Whether the final label of votes without a person's or gold answer is flagged."""
    lm = [v.annotation for v in votes if v.kind == SourceKind.LABEL_MODEL]
    return any(a.needs_review for a in lm) if lm else any(
        v.annotation.needs_review for v in votes)
