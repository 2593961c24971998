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


def test_kept_votes_are_merged_from_the_sources_that_changed(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """After each write, the kept votes equal a fresh read; an annotator's write re-reads
    that annotator's votes only, a model's write reads everything again."""
    p = store.create_project("merge", SCHEMA, ProjectSettings(overlap=2))
    items = [ItemRecord(data={"text": f"m{i}"}) for i in range(40)]
    ids = store.import_records(p.id, items, [
        PendingAnnotation(content_hash=it.content_hash, kind="label_model", name="lm",
                          label=n % 2, confidence=0.9) for n, it in enumerate(items)]).item_ids
    users = [store.create_user(f"m{i}", "annotator", "x") for i in range(3)]
    src = {u.id: store.ensure_source(p.id, "human", u.name, user_id=u.id).id for u in users}
    gold = store.ensure_source(p.id, "gold", "review:g").id
    lm = store.sources(p.id, kinds=["label_model"])[0].id
    review = Review(store, p)
    whole: list[str] = []
    real = store.votes_where_kind

    def spy(*args: object, **kw: object) -> object:
        whole.append("read")
        return real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "votes_where_kind", spy)

    def check(*, full: bool) -> None:
        whole.clear()
        for kinds, on in ((CHECKED, "human"), (("human", "gold"), None)):
            got = review._votes(kinds, on)
            want = _by_item(real(p.id, kinds, on_items_of=on))
            assert list(got) == list(want)
            assert {i: [(v.source, v.annotation.label) for v in vs] for i, vs in got.items()} == {
                i: [(v.source, v.annotation.label) for v in vs] for i, vs in want.items()}
        assert bool(whole) == full

    def answer(user: UserRecord, item: int, label: int) -> AnnotationRecord:
        return AnnotationRecord(item_id=item, source_id=src[user.id], label=label)

    store.upsert_annotations(p.id, [answer(users[0], i, 0) for i in ids[:10]])
    check(full=True)  # the first read
    check(full=False)  # nothing changed
    store.upsert_annotations(p.id, [answer(users[1], i, 1) for i in ids[5:15]])  # new items
    check(full=False)
    store.upsert_annotations(p.id, [answer(users[0], ids[2], 1),  # a changed answer
                                    AnnotationRecord(item_id=ids[20], source_id=gold, label=0)])
    check(full=False)
    store.delete_annotations(p.id, src[users[1].id])  # items 10-14 lose their only person
    check(full=False)
    store.upsert_annotations(p.id, [AnnotationRecord(item_id=ids[0], source_id=lm, label=1,
                                                     confidence=0.2)])
    whole.clear()
    review._votes(CHECKED, "human")
    assert whole  # a model's vote changed: read again
    store.upsert_annotations(p.id, [answer(users[2], ids[30], 1)])  # a new person
    check(full=False)
