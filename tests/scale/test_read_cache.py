"""Kept quality results follow every write: a vote, a changed vote, a decision, a deletion.

Each read through :class:`Review` is compared with the same computation on freshly read
votes (no kept result), on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from labelloop.core.records import AnnotationRecord, ItemRecord, PendingAnnotation, UserRecord
from labelloop.core.schema import LabelSchema, ProjectSettings
from labelloop.services.review import CHECKED, Review, _by_item
from labelloop.services.scorecards import build_scorecards
from labelloop.storage import Store

SCHEMA = LabelSchema.from_labels("text-classification", ["a", "b"])


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url)
    yield s
    s.close()


def fresh_cards(store: Store, review: Review, users: list[UserRecord]) -> list[object]:
    votes = _by_item(store.votes(review.project.id, kinds=["human", "gold"]))
    return list(build_scorecards(SCHEMA, votes, users))


def test_kept_results_follow_the_votes(store: Store) -> None:
    p = store.create_project("cache", SCHEMA, ProjectSettings(overlap=2))
    items = [ItemRecord(data={"text": f"c{i}"}) for i in range(30)]
    ids = store.import_records(p.id, items, [
        PendingAnnotation(content_hash=it.content_hash, kind="label_model", name="lm",
                          label=n % 2, confidence=0.99) for n, it in enumerate(items)]).item_ids
    users = [store.create_user(f"u{i}", "annotator", "x") for i in range(3)]
    src = {u.id: store.ensure_source(p.id, "human", u.name, user_id=u.id).id for u in users}
    review = Review(store, p)
    before = store.votes_version(p.id)
    store.upsert_annotations(p.id, [AnnotationRecord(item_id=i, source_id=src[u.id],
                                                     label=n % 2, seconds=2.0 + n % 3)
                                    for n, i in enumerate(ids[:20]) for u in users[:2]])
    assert store.votes_version(p.id) != before
    cards = review.scorecards(users)
    assert cards == fresh_cards(store, review, users)
    assert review.count() == 0
    # a changed answer makes a disagreement and changes the cards
    v1 = store.votes_version(p.id)
    store.upsert_annotations(p.id, [AnnotationRecord(item_id=ids[3], source_id=src[users[1].id],
                                                     label=0, seconds=2.0)])
    assert store.votes_version(p.id) != v1
    assert review.scorecards(users) == fresh_cards(store, review, users) != cards
    assert [e.item.id for e in review.queue()] == [ids[3]]
    assert review.count() == 1
    assert "check" in review.entry(ids[3]).reasons  # contradicts the confident model
    # a decision takes it off the queue
    rev = store.create_user("rev", "reviewer", "x")
    checked = store.votes_version(p.id, CHECKED)
    review.decide(rev, ids[3], "accept", vote=users[0].name)
    assert review.count() == 0 and review.queue() == []
    # the gold vote and the decision leave the automated checks' votes as they were
    assert store.votes_version(p.id, CHECKED) == checked
    # deleting a source's votes changes the version and the cards
    v2 = store.votes_version(p.id)
    store.delete_annotations(p.id, src[users[1].id])
    assert store.votes_version(p.id) != v2
    assert review.scorecards(users) == fresh_cards(store, review, users)
    assert review.dashboard(users).pairs_compared == 0
