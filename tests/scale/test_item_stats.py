"""``item_stats`` (kept by triggers) gives the counts the votes give, after every write.

The status and the dashboard's coverage read ``item_stats``; here they are compared with
the rule applied to the votes themselves, after imports, upserts that change a vote,
replacing and deleting a source's votes, on SQLite and PostgreSQL; each write once through
the row triggers and once as a bulk write (triggers bypassed, summaries recounted after).
"""

from __future__ import annotations

import importlib.util
import itertools
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import text

from labelloop.core.records import AnnotationRecord, ItemRecord, PendingAnnotation, SourceKind
from labelloop.core.schema import LabelSchema, ProjectSettings
from labelloop.services.review import Review
from labelloop.storage import Store, Vote, item_stats

SCHEMA = LabelSchema.from_labels("text-classification", ["a", "b"])
KINDS = ("gold", "human", "label_model", "model", "labeling_function")


def expected_state(votes: list[Vote]) -> str:
    """The documented rule, from an item's votes."""
    kinds = {v.kind for v in votes}
    flagged = {v.kind for v in votes if v.annotation.needs_review}
    if SourceKind.GOLD in kinds:
        return "gold"
    if SourceKind.HUMAN in kinds:
        return "human"
    if SourceKind.LABEL_MODEL in flagged:
        return "needs_review"
    if SourceKind.LABEL_MODEL in kinds:
        return "auto"
    if flagged:
        return "needs_review"
    return "auto" if kinds else "unlabeled"


def expected(store: Store, pid: int, n_items: int, threshold: float
             ) -> tuple[dict[str, int], int, int]:
    by_item: dict[int, list[Vote]] = {}
    for v in store.votes(pid):
        by_item.setdefault(v.annotation.item_id, []).append(v)
    states = Counter(expected_state(vs) for vs in by_item.values())
    states["unlabeled"] += n_items - len(by_item)
    lm = sum(1 for vs in by_item.values()
             if {v.kind for v in vs} & {"label_model", "labeling_function"})
    saved = sum(1 for vs in by_item.values()
                if not {v.kind for v in vs} & {"human", "gold"}
                and any((v.annotation.confidence or 0.0) >= threshold
                        and not v.annotation.needs_review
                        for v in vs if v.kind in ("label_model", "model")))
    return dict(states), lm, saved


@pytest.fixture(params=["triggers", "bulk", "bulk-rebuilt"])
def store(db_url: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
          ) -> Iterator[Store]:
    """A store whose vote writes go through the row triggers, or all as bulk writes (on
    SQLite, in ``bulk-rebuilt`` with the summary's indexes dropped and built again)."""
    if request.param.startswith("bulk"):
        monkeypatch.setattr(item_stats, "BULK_ROWS", 1)
    if request.param == "bulk-rebuilt":
        monkeypatch.setattr(item_stats, "REBUILD_ITEMS", 1)
    s = Store(db_url)
    yield s
    s.close()


def expected_mstate(votes: list[Vote]) -> str:
    """The state without people's and gold answers (``none``: only people answered)."""
    model = [v for v in votes if v.kind not in ("human", "gold")]
    return expected_state(model) if model else "none"


def _check(store: Store, pid: int, n: int) -> None:
    states, lm, saved = expected(store, pid, n, 0.8)
    by_item: dict[int, list[Vote]] = {}
    for v in store.votes(pid):
        by_item.setdefault(v.annotation.item_id, []).append(v)
    with store.engine.connect() as conn:
        mstates = dict(conn.execute(text("SELECT item_id, mstate FROM item_stats"
                                         " WHERE project_id = :p"), {"p": pid}).all())
    assert mstates == {i: expected_mstate(vs) for i, vs in by_item.items()}
    # the model-state counts kept by a caller give the same status as a fresh read
    kept = store.model_counts(pid, 0.8)
    assert store.status_with_coverage(pid, 0.8, kept) == store.status_with_coverage(pid, 0.8)
    got = store.status(pid).states
    assert {k: v for k, v in got.items() if v} == {k: v for k, v in states.items() if v}
    assert store.status_with_coverage(pid, 0.8)[1:] == (lm, saved)
    per_source = Counter((v.kind, v.source) for v in store.votes(pid))
    flagged = Counter((v.kind, v.source) for v in store.votes(pid) if v.annotation.needs_review)
    assert {(c.kind, c.name): (c.annotations, c.needs_review)
            for c in store.status(pid).sources} == {
        (s.kind, s.name): (per_source[(s.kind, s.name)], flagged[(s.kind, s.name)])
        for s in store.sources(pid)}


def test_item_stats_follow_every_write(store: Store) -> None:
    p = store.create_project("stats", SCHEMA, ProjectSettings())
    other = store.create_project("other", SCHEMA, ProjectSettings())
    combos = [c for r in range(len(KINDS) + 1) for c in itertools.combinations(KINDS, r)]
    n = len(combos) * 3
    ids = store.import_records(p.id, [ItemRecord(data={"text": f"s{i}"}) for i in range(n)]
                               ).item_ids
    oid = store.import_records(other.id, [ItemRecord(data={"text": "o"})]).item_ids[0]
    src = {k: store.ensure_source(p.id, k, f"{k}-src").id for k in KINDS}
    rows = []
    for n_item, item in enumerate(ids):
        combo = combos[n_item % len(combos)]
        flag = n_item // len(combos)  # 0: none flagged, 1: every vote flagged, 2: confident
        for k in combo:
            rows.append(AnnotationRecord(item_id=item, source_id=src[k], label=0,
                                         confidence=0.9 if flag == 2 else 0.5,
                                         needs_review=flag == 1))
    store.upsert_annotations(p.id, rows)
    osrc = store.ensure_source(other.id, "human", "h").id
    store.upsert_annotations(other.id, [AnnotationRecord(item_id=oid, source_id=osrc, label=1)])
    _check(store, p.id, n)
    assert store.status(p.id).items == n and store.status(other.id).states["human"] == 1
    # an upsert that changes a vote: every label-model vote is now confident and unflagged
    lm = [r for r in rows if r.source_id == src["label_model"]]
    store.upsert_annotations(p.id, [r.model_copy(update={"confidence": 0.95,
                                                         "needs_review": False}) for r in lm])
    _check(store, p.id, n)
    # the labeling function answers on half its items only now; the gold answers go
    lf_items = sorted({r.item_id for r in rows if r.source_id == src["labeling_function"]})
    keep = lf_items[::2]
    store.replace_annotations(p.id, [src["labeling_function"]], lf_items, [
        AnnotationRecord(item_id=i, source_id=src["labeling_function"], label=1) for i in keep])
    store.delete_annotations(p.id, src["gold"])
    _check(store, p.id, n)
    assert store.status(other.id).states["human"] == 1


def reference_queue(store: Store, review: Review) -> list[tuple[int, list[str]]]:
    """The review queue as it was computed before ``item_stats``: from every vote."""
    from labelloop.services.scorecards import when

    votes: dict[int, list[Vote]] = {}
    for v in store.votes(review.project.id):
        votes.setdefault(v.annotation.item_id, []).append(v)
    decided = store.decision_times(review.project.id)
    checks = review.check_flags(votes)
    out = []
    for item_id, vs in votes.items():
        newest = max((when(v.annotation.created_at) for v in vs if v.kind != "gold"),
                     default=None)
        if newest is None or (item_id in decided and decided[item_id] >= newest):
            continue
        why = review.reasons(vs) + (["check"] if item_id in checks else [])
        if why:
            out.append((item_id, why))
    return out


@pytest.mark.parametrize("task", ["text-classification", "multi-label-text"])
def test_review_flags_match_the_votes(store: Store, task: str) -> None:
    """Disagreements, honeypot misses (one gold or two that differ), flagged drafts and
    decisions: the queue read from ``item_stats`` equals the one computed from votes."""
    import random

    rng = random.Random(3)
    schema = LabelSchema.from_labels(task, ["a", "b", "c"])
    p = store.create_project(f"flags-{task}", schema, ProjectSettings(overlap=2))
    ids = store.import_records(p.id, [ItemRecord(data={"text": f"f{i}"}) for i in range(120)]
                               ).item_ids
    users = [store.create_user(f"{task}-u{i}", "annotator", "x") for i in range(3)]
    src = [store.ensure_source(p.id, "human", u.name, user_id=u.id).id for u in users]
    gold = [store.ensure_source(p.id, "gold", f"review:{task}-r{i}").id for i in range(2)]
    lm = store.ensure_source(p.id, "label_model", "lm").id
    rows = []
    for n, item in enumerate(ids):
        def answer(source: int | None, item: int = item) -> AnnotationRecord:
            label = rng.choice([0, 0, 1])
            extra = {"labels": [label]} if task == "multi-label-text" else {"label": label}
            return AnnotationRecord(item_id=item, source_id=source, **extra)

        for s in rng.sample(src, rng.choice([0, 1, 2, 2, 3])):
            rows.append(answer(s))
        for g in gold[: rng.choice([0, 0, 0, 1, 2])]:
            rows.append(answer(g))
        if n % 4 == 0:
            rows.append(AnnotationRecord(item_id=item, source_id=lm, label=n % 3,
                                         confidence=0.5, needs_review=n % 8 == 0))
    store.upsert_annotations(p.id, rows)
    review = Review(store, p)
    reviewer = store.create_user(f"{task}-rev", "reviewer", "x")
    sent_back = [item_id for item_id, _ in reference_queue(store, review)[:5]]
    for item_id in sent_back:
        store.record_decision(p.id, item_id, reviewer.id or 0, "send_back", {}, "",
                              datetime.now(UTC))
    expected_queue = reference_queue(store, review)
    assert len(expected_queue) > 10
    got = [(e.item.id, e.reasons) for e in review.queue(limit=1000)]
    assert got == expected_queue
    assert review.count() == len(expected_queue)
    for reason in ("needs_review", "disagreement", "honeypot_miss", "check"):
        want = [(i, why) for i, why in expected_queue if reason in why]
        assert [(e.item.id, e.reasons) for e in review.queue(reason=reason, limit=1000)] == want
        assert review.count(reason=reason) == len(want)  # counted in SQL, the same number
    paged = [(e.item.id, e.reasons) for e in review.queue(limit=7)]
    paged += [(e.item.id, e.reasons) for e in review.queue(limit=1000, after=paged[-1][0])]
    assert paged == expected_queue
    assert review.count(limit=3) == 3
    # a new vote on a decided item puts it back; one decided after its votes leaves
    store.upsert_annotations(p.id, [AnnotationRecord(
        item_id=sent_back[0], source_id=lm, label=2, confidence=0.5, needs_review=True)])
    store.record_decision(p.id, expected_queue[0][0], reviewer.id or 0, "accept", {}, "",
                          datetime.now(UTC))
    again = reference_queue(store, review)
    assert sent_back[0] in {i for i, _ in again} and expected_queue[0] not in again
    assert review.count() == len(again)


def recounted(store: Store) -> None:
    """Stored ``item_stats`` and ``source_stats`` equal a recount of every vote, and no
    ``bulk_writes`` guard row was left behind."""
    huge = 2**62
    with store.engine.connect() as conn:
        tx = conn.begin()
        assert conn.execute(text("SELECT count(*) FROM bulk_writes")).scalar() == 0
        read = text("SELECT item_id, project_id, state, lm, sure, flags, newest, mstate"
                    " FROM item_stats ORDER BY item_id")
        stored = conn.execute(read).all()
        conn.execute(text("DELETE FROM item_stats"))
        conn.execute(item_stats._SUMMARIZE, {"lo": 0, "hi": huge})
        assert stored == conn.execute(read).all()
        counts = {tuple(r) for r in conn.execute(text(
            "SELECT source_id, votes, flagged FROM source_stats WHERE votes > 0"))}
        assert counts == {tuple(r) for r in conn.execute(text(
            "SELECT source_id, count(*), sum(CASE WHEN needs_review THEN 1 ELSE 0 END)"
            " FROM annotations GROUP BY source_id"))}
        tx.rollback()


def changes(store: Store) -> dict[int, int]:
    with store.engine.connect() as conn:
        return {int(r[0]): int(r[1]) for r in conn.execute(text(
            "SELECT source_id, changes FROM source_stats"))}


def _migration(name: str) -> Any:
    path = Path(item_stats.__file__).parent / "migrations" / "versions" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"migration_{name}", path)
    assert spec is not None and spec.loader is not None
    m: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


def test_the_bulk_recount_is_the_rule_of_the_triggers() -> None:
    """The set-based summary of a bulk write is the statement the triggers run: migration
    0008's, with the model state added as migration 0020 adds it to the triggers."""
    summary = _migration("0008_read_indexes")._summary(item_stats._IN_RANGE)
    m20 = _migration("0020_count_parts")
    for old, new in ((m20._COLS_OLD, m20._COLS_NEW), (m20._LAST_OLD, m20._LAST_NEW)):
        assert old in summary
        summary = summary.replace(old, new)
    assert item_stats._SUMMARIZE.text == summary


def test_bulk_writes_leave_the_summaries_of_a_recount(store: Store) -> None:
    """Import with labels, upserts, replacing, a posterior and deleting: after each, both
    summary tables equal a recount of the votes, and ``changes`` moved for the sources
    written (the version the read caches check)."""
    p = store.create_project("bulk", SCHEMA, ProjectSettings())
    other = store.create_project("bulk-other", SCHEMA, ProjectSettings())
    items = [ItemRecord(data={"text": f"b{i}"}) for i in range(60)]
    labels = [PendingAnnotation(it.content_hash, "human" if i % 3 else "gold", "file",
                                label=i % 2) for i, it in enumerate(items[:40])]
    ids = store.import_records(p.id, items, labels).item_ids
    oid = store.import_records(other.id, [ItemRecord(data={"text": "o"})]).item_ids[0]
    store.import_records(p.id, [ItemRecord(data={"text": "b99"})])  # an id beyond a gap
    recounted(store)
    lf = [store.ensure_source(p.id, "labeling_function", f"lf{j}").id or 0 for j in range(3)]
    store.upsert_annotations(p.id, [
        AnnotationRecord(item_id=i, source_id=s, label=(i + s) % 2, needs_review=i % 5 == 0)
        for i in ids for s in lf])
    osrc = store.ensure_source(other.id, "human", "h").id or 0
    store.upsert_annotations(other.id, [AnnotationRecord(item_id=oid, source_id=osrc, label=1)])
    recounted(store)
    before = changes(store)
    # the LFs answer on half their items now (one abstains everywhere)
    store.replace_annotations(p.id, lf, ids, [
        AnnotationRecord(item_id=i, source_id=s, label=1) for i in ids[::2] for s in lf[:2]])
    recounted(store)
    after = changes(store)
    assert all(after[s] > before[s] for s in lf)
    # the same again from a block of votes: lf0 abstains on every third item now
    votes = np.array([[(i + j) % 2 if (n % 3 or j) else -1 for j in range(3)]
                      for n, i in enumerate(ids)])
    before = changes(store)
    store.replace_votes(p.id, lf, ids, votes)
    recounted(store)
    assert all(changes(store)[s] > before[s] for s in lf)
    lm = store.ensure_source(p.id, "label_model", "lm").id or 0
    P = np.tile([0.3, 0.7], (len(ids), 1))
    for review in (np.arange(len(ids)) % 4 == 0, np.zeros(len(ids), bool)):  # twice: updates
        store.upsert_posterior(p.id, lm, ids, np.ones(len(ids), int), P[:, 1], P, review,
                               batch_size=7)
        recounted(store)
    store.delete_annotations(p.id, lf[0])
    recounted(store)
    assert store.status(other.id).states["human"] == 1
