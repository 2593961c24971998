"""``item_stats`` (kept by triggers) gives the counts the votes give, after every write.

The status and the dashboard's coverage read ``item_stats``; here they are compared with
the rule applied to the votes themselves, after imports, upserts that change a vote,
replacing and deleting a source's votes, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator

import pytest

from labelloop.core.records import AnnotationRecord, ItemRecord, SourceKind
from labelloop.core.schema import LabelSchema, ProjectSettings
from labelloop.storage import Store, Vote

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


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url)
    yield s
    s.close()


def _check(store: Store, pid: int, n: int) -> None:
    states, lm, saved = expected(store, pid, n, 0.8)
    got = store.status(pid).states
    assert {k: v for k, v in got.items() if v} == {k: v for k, v in states.items() if v}
    assert store.vote_coverage(pid, 0.8) == (lm, saved)


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
