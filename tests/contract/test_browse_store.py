"""The data browser's storage and service on SQLite and PostgreSQL, over 2,000 items:
every sort's keyset pages visit each item once, every filter and the search select the
right items, bulk actions change what they say they change."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from labelloop.core.records import AnnotationRecord, ItemRecord, PendingAnnotation, UserRecord
from labelloop.core.schema import LabelSchema
from labelloop.errors import ValidationError
from labelloop.services.browse import Browse, BrowseFilter
from labelloop.storage import Store
from labelloop.storage.browse import SORTS

N = 2000
SCHEMA = LabelSchema.from_labels("text-classification", ["neg", "pos"])


@dataclass
class World:
    store: Store
    browse: Browse
    state: dict[int, str]
    final: dict[int, int | None]
    sure: dict[int, float | None]
    by_index: dict[int, int]  # construction index -> item id
    reviewer: UserRecord


def _conf(i: int) -> float:
    return (i % 100) / 100


@pytest.fixture
def world(db_url: str) -> World:
    store = Store(db_url)
    p = store.create_project("browse", SCHEMA)
    items = [ItemRecord(data={"text": f"item number {i} {'even' if i % 2 == 0 else 'odd'}"
                               + (" apple pie" if i % 4 == 0 else "")
                               + (" <script>alert(1)</script>" if i == 7 else "")},
                        meta={"batch": str(i % 3)}, split="train" if i % 5 == 0 else "unassigned")
             for i in range(N)]
    votes = []
    for i, it in enumerate(items):
        if i % 10 != 0:
            votes.append(PendingAnnotation(content_hash=it.content_hash, kind="label_model",
                                           name="lm", label=i % 2, confidence=_conf(i),
                                           needs_review=_conf(i) < 0.1))
        if i % 10 == 5:
            votes.append(PendingAnnotation(content_hash=it.content_hash, kind="model",
                                           name="zs", label=1 - i % 2, confidence=0.5))
    ids = store.import_records(p.id, items, votes).item_ids
    by_index = dict(enumerate(ids))
    store.set_priorities(p.id, {by_index[i]: float(i % 17) for i in range(0, N, 2)})
    from argon2 import PasswordHasher

    from labelloop.services.users import Users

    users = Users(store, hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    reviewer = users.add("rev", "reviewer", "browse password")[0]
    anns = [users.add(f"ann{k}", "annotator", "browse password")[0] for k in (1, 2)]
    src = [store.ensure_source(p.id, "human", u.name, user_id=u.id).id for u in anns]
    gold = store.ensure_source(p.id, "gold", "review:rev", user_id=reviewer.id).id
    rows = []
    for i in range(N):
        if i % 20 == 1:
            rows.append(AnnotationRecord(item_id=by_index[i], source_id=src[0], label=0))
            rows.append(AnnotationRecord(item_id=by_index[i], source_id=src[1],
                                         label=1 if i % 40 == 1 else 0))
        if i % 50 == 3:
            rows.append(AnnotationRecord(item_id=by_index[i], source_id=gold, label=1))
    store.upsert_annotations(p.id, rows)
    state, final, sure = {}, {}, {}
    for i in range(N):
        iid = by_index[i]
        lm = i % 10 != 0
        own = _conf(i) if _conf(i) >= 0.1 else -1.0  # a flagged vote is not sure
        sure[iid] = (max(own, 0.5) if i % 10 == 5 else own) if lm else None
        if i % 50 == 3:
            state[iid], final[iid] = "gold", 1
        elif i % 20 == 1:
            state[iid], final[iid] = "human", 0
        elif lm:
            state[iid] = "needs_review" if _conf(i) < 0.1 else "auto"
            final[iid] = i % 2
        else:
            state[iid], final[iid] = "unlabeled", None
    return World(store, Browse(store, store.project(p.id)), state, final, sure, by_index,
                 reviewer)


def _walk(w: World, f: BrowseFilter, **kw: object) -> list[int]:
    seen, cursor = [], None
    while True:
        page, cursor = w.store.browse_page(w.browse.project.id, f, cursor=cursor,
                                           limit=137, **kw)  # type: ignore[arg-type]
        seen += [r.item.id for r in page]
        if cursor is None:
            return seen


@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("desc", [False, True])
def test_each_sort_visits_every_item_once_in_order(world: World, sort: str, desc: bool
                                                   ) -> None:
    rows, cursor = [], None
    while True:
        page, cursor = world.store.browse_page(world.browse.project.id, BrowseFilter(),
                                               sort=sort, desc=desc, cursor=cursor,
                                               limit=137)  # type: ignore[arg-type]
        rows += page
        if cursor is None:
            break
    ids = [r.item.id for r in rows]
    assert len(ids) == N and set(ids) == set(world.state)
    if sort == "confidence":
        keyed = [(world.sure[i], i) for i in ids if world.sure[i] is not None]
        assert [i for i in ids if world.sure[i] is None] == sorted(
            (i for i in ids if world.sure[i] is None), reverse=desc)
        assert ids[: len(keyed)] == [i for _, i in sorted(keyed, reverse=desc)]
    if sort == "id":
        assert ids == sorted(ids, reverse=desc)


def test_filters_select_the_right_items(world: World) -> None:
    w, b = world, world.browse
    idx = {v: k for k, v in w.by_index.items()}
    cases = {
        "states": (b.filter(states=["needs_review", "unlabeled"]),
                   {i for i, s in w.state.items() if s in ("needs_review", "unlabeled")}),
        "gold": (b.filter(states=["gold"]), {i for i, s in w.state.items() if s == "gold"}),
        "label": (b.filter(label="pos"), {i for i, c in w.final.items() if c == 1}),
        "source": (b.filter(source="zs"), {i for i in idx if idx[i] % 10 == 5}),
        "annotator": (b.filter(annotator="ann2"), {i for i in idx if idx[i] % 20 == 1}),
        "confidence": (b.filter(min_confidence=0.3, max_confidence=0.45),
                       {i for i, c in w.sure.items() if c is not None and 0.3 <= c <= 0.45}),
        "disagreement": (b.filter(disagreement=True),
                         {i for i in idx if idx[i] % 40 == 1 and idx[i] % 50 != 3}),
        "split": (b.filter(split="train"), {i for i in idx if idx[i] % 5 == 0}),
        "meta": (b.filter(meta="batch=2"), {i for i in idx if idx[i] % 3 == 2}),
        "search": (b.filter(search="Apple PIE"), {i for i in idx if idx[i] % 4 == 0}),
        "search + split": (b.filter(search="apple", split="train"),
                           {i for i in idx if idx[i] % 20 == 0}),
        "ids": (b.filter(ids=[w.by_index[3], w.by_index[4]]), {w.by_index[3], w.by_index[4]}),
    }
    for name, (f, want) in cases.items():
        assert want, name
        got = _walk(w, f)
        assert len(got) == len(set(got)) and set(got) == want, name
        assert b.count(f) == len(want), name
        sorted_by = _walk(w, f, sort="priority", desc=True)
        assert set(sorted_by) == want and len(sorted_by) == len(want), name


def test_search_takes_any_text_and_refuses_none(world: World) -> None:
    b = world.browse
    assert b.count(b.filter(search='"apple" OR (pie* NEAR')) == 0  # every word must occur
    assert b.count(b.filter(search='"apple" (pie*')) == N // 4
    assert b.count(b.filter(search="number 7 odd")) == 1
    with pytest.raises(ValidationError, match="no word"):
        b.filter(search="*** ()")
    with pytest.raises(ValidationError, match="state"):
        b.filter(states=["done"])
    with pytest.raises(ValidationError, match="key=value"):
        b.filter(meta="batch")
    with pytest.raises(ValidationError, match="cursor"):
        world.store.browse_page(b.project.id, BrowseFilter(), sort="date", cursor="x")


def test_import_keeps_the_search_index(world: World) -> None:
    b = world.browse
    world.store.import_records(b.project.id, [ItemRecord(data={"text": "a fresh banana"})])
    page = b.page(b.filter(search="banana"))
    assert [r.item.text for r in page.rows] == ["a fresh banana"]
    assert page.rows[0].state == "unlabeled" and page.rows[0].label is None


def test_bulk_accept_on_a_filter_of_1000_items(world: World) -> None:
    w, b = world, world.browse
    f = b.filter(search="even")
    assert b.count(f) == 1000
    before = b.count(b.filter(states=["gold"]))
    eligible = {i for i in w.state if {v: k for k, v in w.by_index.items()}[i] % 2 == 0
                and w.state[i] not in ("gold", "unlabeled")}
    res = b.accept(w.reviewer, f)
    assert (res.matched, res.changed) == (1000, len(eligible))
    assert b.count(b.filter(states=["gold"])) == before + len(eligible)
    golds = w.store.votes(b.project.id, kinds=["gold"])
    mine = {v.annotation.item_id: v.annotation.label for v in golds if v.source == "review:rev"}
    for i in eligible:  # the label model's answer (not the model's) became gold
        assert mine[i] == w.final[i]
    assert b.accept(w.reviewer, f).changed == 0  # again: everything has gold now


def test_set_split_and_export(world: World) -> None:
    import json

    b = world.browse
    f = b.filter(search="apple")
    res = b.set_split(f, "test")
    assert (res.matched, res.changed) == (500, 500)
    assert b.count(b.filter(split="test")) == 500
    assert b.set_split(f, "test").changed == 0
    lines = [json.loads(x) for x in b.export_lines(b.filter(search="apple", states=["gold"]))]
    want = [i for i, s in world.state.items() if s == "gold"
            and {v: k for k, v in world.by_index.items()}[i] % 4 == 0]
    assert [x["id"] for x in lines] == sorted(want)
    assert all(x["label"] == "pos" and x["split"] == "test" for x in lines)
    with pytest.raises(ValidationError, match="split"):
        b.set_split(f, "holdout")


def _index(w: World) -> dict[int, int]:
    return {v: k for k, v in w.by_index.items()}


def test_send_to_review_puts_a_filter_in_the_review_queue(world: World) -> None:
    from labelloop.services.review import Review

    w, b = world, world.browse
    review = Review(w.store, b.project)
    waiting = review.count()
    f = b.filter(search="apple")
    res = b.send_to_review(w.reviewer, f)
    assert (res.matched, res.changed) == (500, 500)
    assert b.send_to_review(w.reviewer, f).changed == 0  # already waiting
    asked = {i for i in w.state if _index(w)[i] % 4 == 0}
    queued = review.queue(reason="requested", limit=1000)
    assert {e.item.id for e in queued} == asked
    assert all("requested" in e.reasons for e in queued)
    assert review.count(reason="requested") == 500
    # the whole queue: the requested items join those flagged before, each once
    everything = {e.item.id for e in review.queue(limit=5000)}
    assert asked <= everything
    assert Review(w.store, b.project).count() == len(everything) > waiting
    first = min(asked)  # a decision closes the request
    review.decide(w.reviewer, first, "send_back")
    assert Review(w.store, b.project).count(reason="requested") == 499
    assert first not in {e.item.id for e in review.queue(reason="requested", limit=1000)}


def test_delete_on_a_filter_removes_the_items_and_everything_attached(world: World) -> None:
    w, b, s = world, world.browse, world.store
    pid = b.project.id
    doomed = sorted(i for i in w.state if _index(w)[i] % 2 == 0)
    kept = sorted(set(w.state) - set(doomed))
    for i in (doomed[0], kept[0]):
        s.add_comment(pid, i, w.reviewer.id or 0, "look at this")
    b.send_to_review(w.reviewer, b.filter(ids=[doomed[1], kept[1]]))
    sources_before = {c.name: c.annotations for c in s.status(pid).sources}
    votes_kept = s.votes(pid, item_ids=kept)
    res = b.delete(b.filter(search="even"))
    assert (res.matched, res.changed) == (1000, 1000)
    assert b.count(b.filter()) == 1000
    assert [r.item.id for r in s.browse_page(pid, b.filter(), limit=1000)[0]] == kept
    assert s.votes(pid, item_ids=doomed) == [] and s.votes(pid, item_ids=kept) == votes_kept
    assert b.count(b.filter(search="even")) == 0 and b.count(b.filter(search="odd")) == 1000
    assert s.comment_counts(pid, doomed + kept) == {kept[0]: 1}
    assert b.count(b.filter(has_comments=True)) == 1
    status = s.status(pid)  # the summaries were brought up to date
    assert status.items == 1000 and sum(status.states.values()) == 1000
    for state in ("gold", "human", "needs_review", "auto", "unlabeled"):
        assert status.states[state] == sum(1 for i in kept if w.state[i] == state), state
    after = {c.name: c.annotations for c in status.sources}
    for name, n in sources_before.items():
        assert after.get(name, 0) == sum(1 for v in votes_kept if v.source == name) <= n
    from labelloop.services.review import Review

    assert {e.item.id for e in Review(s, b.project).queue(reason="requested")} == {kept[1]}
    assert b.delete(b.filter(search="even")).matched == 0


def test_comments_are_kept_per_item_and_read_by_who_may(world: World) -> None:
    from labelloop.errors import NotFoundError
    from labelloop.services.comments import COMMENT_MAX, Comments
    from labelloop.services.users import Users

    w, s = world, world.store
    c = Comments(s, w.browse.project)
    item = w.by_index[11]
    ann1, ann2 = (Users(s).by_name(n) for n in ("ann1", "ann2"))
    c.add(ann1, item, "  is <b>this</b> spam?  ")
    c.add(ann2, item, "my own note")
    reply = c.add(w.reviewer, item, "yes", reply_to=ann1.id)
    assert reply.reply_to_name == "ann1" and reply.author == "rev"
    everyone = c.visible(w.reviewer, item, see_all=True)
    assert [x.body for x in everyone] == ["is <b>this</b> spam?", "my own note", "yes"]
    assert [x.body for x in c.visible(ann1, item, see_all=False)] == [
        "is <b>this</b> spam?", "yes"]
    assert [x.body for x in c.visible(ann2, item, see_all=False)] == ["my own note"]
    assert c.counts([item, w.by_index[12]]) == {item: 3}
    assert w.browse.count(w.browse.filter(has_comments=True)) == 1
    with pytest.raises(ValidationError, match=f"at most {COMMENT_MAX:,}"):
        c.add(ann1, item, "x" * (COMMENT_MAX + 1))
    with pytest.raises(ValidationError, match="empty"):
        c.add(ann1, item, "   ")
    other = s.create_project("elsewhere", SCHEMA)
    with pytest.raises(NotFoundError):
        Comments(s, other).add(ann1, item, "wrong project")


def test_search_index_survives_the_upgrade_to_0019_and_forgets_deleted_items(
        db_url: str) -> None:
    # 0019 makes the SQLite index contentless: items indexed before it are found after
    store = Store(db_url, migrate=False)
    try:
        store.migrate("0017")
        p = store.create_project("upgrade", SCHEMA)
        texts = ["a ripe banana", "a green apple", "banana bread", "no fruit"]
        ids = store.import_records(p.id, [ItemRecord(data={"text": t}) for t in texts]).item_ids
        store.migrate()
        b = Browse(store, store.project(p.id))
        assert b.count(b.filter(search="banana")) == 2
        store.import_records(p.id, [ItemRecord(data={"text": "banana split"})])
        assert b.count(b.filter(search="banana")) == 3
        with store.engine.begin() as conn:  # nothing deletes items yet: a raw delete
            conn.exec_driver_sql(f"DELETE FROM items WHERE id = {ids[0]}")
        assert b.count(b.filter(search="banana")) == 2
        assert b.count(b.filter(search="ripe")) == 0
        assert b.count(b.filter(search="apple")) == 1
    finally:
        store.close()
