"""The dashboard's counts stay right after every write.

The dashboard keeps the model-state counts under the version of the models' votes, counts
the answered items and the flagged drafts in parts, reads the split totals from
``split_counts`` and computes the cards and the agreement on the items where people's
votes can count. After each write of a team's day (answers, a changed answer, a gold
answer, a send-back, a new label model, an import, a deletion) every figure is compared
with the documented rule applied to every vote, read afresh, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from labelloop.core.records import AnnotationRecord, ItemRecord, PendingAnnotation, UserRecord
from labelloop.core.schema import LabelSchema, ProjectSettings
from labelloop.services.queue import answers_match
from labelloop.services.review import Review, _by_item
from labelloop.services.scorecards import build_scorecards, when
from labelloop.storage import Store, Vote

SCHEMA = LabelSchema.from_labels("text-classification", ["a", "b"])
THRESHOLD = 0.8


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url)
    yield s
    s.close()


def _state(votes: list[Vote]) -> str:
    kinds = {v.kind for v in votes}
    flagged = {v.kind for v in votes if v.annotation.needs_review}
    for kind, name in (("gold", "gold"), ("human", "human")):
        if kind in kinds:
            return name
    if "label_model" in kinds:
        return "needs_review" if "label_model" in flagged else "auto"
    return "needs_review" if flagged else "auto"


def expected(store: Store, review: Review, users: list[UserRecord]) -> dict[str, object]:
    """Every dashboard figure from the votes themselves."""
    pid = review.project.id
    by_item = _by_item(store.votes(pid))
    n_items = len(store.items(pid))
    states = Counter(_state(vs) for vs in by_item.values())
    states["unlabeled"] = n_items - len(by_item)
    people = {i: [v for v in vs if v.kind in ("human", "gold")] for i, vs in by_item.items()}
    people = {i: vs for i, vs in people.items() if vs}
    compared = agreed = 0
    for vs in people.values():
        humans = [v.annotation for v in vs if v.kind == "human"]
        for n, a in enumerate(humans):
            for b in humans[n + 1 :]:
                compared += 1
                agreed += answers_match(a, b)
    decided = store.decision_times(pid)
    checks = review.check_flags(by_item)
    waiting = 0
    for item_id, vs in by_item.items():
        newest = max((when(v.annotation.created_at) for v in vs if v.kind != "gold"), default=None)
        if newest is None or (item_id in decided and decided[item_id] >= newest):
            continue
        waiting += bool(review.reasons(vs) or item_id in checks)
    lm = sum(
        1 for vs in by_item.values() if {v.kind for v in vs} & {"label_model", "labeling_function"}
    )
    saved = sum(
        1
        for vs in by_item.values()
        if _state(vs) in ("needs_review", "auto")
        and any(
            (v.annotation.confidence or 0.0) >= THRESHOLD and not v.annotation.needs_review
            for v in vs
            if v.kind in ("label_model", "model")
        )
    )
    return {
        "items": n_items,
        "states": {k: v for k, v in states.items() if v},
        "pairs": (compared, agreed),
        "queue": waiting,
        "lm": lm,
        "saved": saved,
        "cards": build_scorecards(SCHEMA, people, users),
    }


def check(store: Store, pid: int, users: list[UserRecord]) -> None:
    review = Review(store, store.project(pid))  # one per request, as the server makes it
    d = review.dashboard(users)
    want = expected(store, Review(store, store.project(pid)), users)
    assert d.items == want["items"]
    assert {k: v for k, v in d.status.states.items() if v} == want["states"]
    assert (d.pairs_compared, round((d.agreement or 0) * d.pairs_compared)) == want["pairs"]
    assert d.review_queue == want["queue"]
    assert round(d.label_model_coverage * d.items) == want["lm"]
    assert d.human_labels_saved == want["saved"]
    assert d.scorecards == want["cards"]
    assert review.scorecards(users) == want["cards"]
    assert sum(d.status.splits.values()) == d.items
    assert store.queue_progress(pid)[1] == d.items


def test_dashboard_counts_follow_each_write(store: Store) -> None:
    p = store.create_project(
        "counts", SCHEMA, ProjectSettings(overlap=2, review_threshold=THRESHOLD)
    )
    other = store.create_project("counts-other", SCHEMA, ProjectSettings())
    items = [ItemRecord(data={"text": f"t{i}"}) for i in range(60)]
    drafts = [
        PendingAnnotation(
            content_hash=it.content_hash,
            kind="label_model",
            name="lm",
            label=n % 2,
            confidence=0.5 + (n % 5) / 10,
            needs_review=n % 4 == 0,
        )
        for n, it in enumerate(items[:50])
    ]
    drafts += [
        PendingAnnotation(
            content_hash=it.content_hash, kind="labeling_function", name="lf", label=1
        )
        for it in items[40:55]
    ]
    # the labels of the imported file: the largest human source, of no user
    drafts += [
        PendingAnnotation(content_hash=it.content_hash, kind="human", name="import", label=n % 2)
        for n, it in enumerate(items[10:40])
    ]
    ids = store.import_records(p.id, items, drafts).item_ids
    store.import_records(other.id, [ItemRecord(data={"text": "o"})])
    users = [store.create_user(f"c{i}", "annotator", "x") for i in range(3)]
    rev = store.create_user("c-rev", "reviewer", "x")
    src = {u.id: store.ensure_source(p.id, "human", u.name, user_id=u.id).id for u in users}
    t0 = datetime(2026, 1, 1, tzinfo=UTC)

    def answer(user: UserRecord, item: int, label: int, minute: int) -> None:
        store.upsert_annotations(
            p.id,
            [
                AnnotationRecord(
                    item_id=item,
                    source_id=src[user.id],
                    label=label,
                    seconds=2.0 + minute % 3,
                    created_at=t0 + timedelta(minutes=minute),
                )
            ],
        )

    check(store, p.id, users)  # kept from here on
    answer(users[0], ids[0], 0, 1)  # a flagged draft answered: needs_review -> human
    check(store, p.id, users)
    answer(users[0], ids[1], 1, 2)  # an auto item answered
    answer(users[1], ids[12], 1, 3)  # beside the file's label: a pair
    check(store, p.id, users)
    for minute, item in enumerate(ids[20:45], start=4):  # many answers of two people
        answer(users[minute % 2], item, minute % 2, minute)
        answer(users[2], item, 0, minute)
    check(store, p.id, users)
    answer(users[0], ids[0], 1, 40)  # a changed answer
    check(store, p.id, users)
    review = Review(store, store.project(p.id))
    review.decide(rev, ids[21], "accept", vote=users[2].name)  # a gold answer
    check(store, p.id, users)
    review.decide(rev, ids[4], "send_back")  # a flagged draft decided: off the queue
    check(store, p.id, users)
    lm = store.sources(p.id, kinds=["label_model"])[0].id
    store.upsert_annotations(
        p.id,
        [
            AnnotationRecord(  # the label model changes its mind
                item_id=i, source_id=lm, label=1, confidence=0.95, needs_review=False
            )
            for i in ids[:8]
        ],
    )
    check(store, p.id, users)
    store.import_records(p.id, [ItemRecord(data={"text": f"new{i}"}) for i in range(7)])
    check(store, p.id, users)
    store.delete_annotations(p.id, src[users[1].id])  # an annotator's answers go
    check(store, p.id, users)
    assert store.status(other.id).items == 1
