"""Store contract: the same behaviour on SQLite and on a real PostgreSQL."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from labelloop.core import AnnotationRecord, Box, ItemRecord, LabelSchema
from labelloop.core.records import PendingAnnotation
from labelloop.core.schema import ProjectSettings
from labelloop.errors import ConflictError, NotFoundError, ValidationError
from labelloop.storage import Failure, Store

SCHEMA = LabelSchema.from_labels("text-classification", ["ham", "spam"])


@pytest.fixture
def store(db_url: str) -> Store:
    s = Store(db_url)
    yield s
    s.close()


def _items(n: int) -> list[ItemRecord]:
    return [ItemRecord(data={"text": f"comment {i}"}, split="train") for i in range(n)]


def test_project_names_are_unique(store: Store) -> None:
    store.create_project("p", SCHEMA)
    with pytest.raises(ConflictError):
        store.create_project("p", SCHEMA)
    assert store.get_project("p").schema == SCHEMA
    with pytest.raises(NotFoundError):
        store.get_project("missing")


def test_import_is_idempotent_by_content_hash(store: Store) -> None:
    p = store.create_project("p", SCHEMA)
    items = _items(10)
    first = store.import_records(p.id, items)
    again = store.import_records(p.id, items)
    assert (first.added, first.skipped) == (10, 0)
    assert (again.added, again.skipped) == (0, 10)
    assert again.item_ids == first.item_ids
    assert store.count_items(p.id) == 10


def test_import_is_all_or_nothing(store: Store) -> None:
    p = store.create_project("p", SCHEMA)
    items = _items(5)
    bad = [PendingAnnotation("no-such-hash", "human", "x", label=0)]
    with pytest.raises(KeyError):
        store.import_records(p.id, items, bad)
    assert store.count_items(p.id) == 0
    assert store.sources(p.id) == []


def test_annotations_upsert_and_label_matrix(store: Store) -> None:
    p = store.create_project("p", SCHEMA)
    ids = store.import_records(p.id, _items(4)).item_ids
    a = store.ensure_source(p.id, "labeling_function", "lf_a")
    b = store.ensure_source(p.id, "human", "ann")
    assert store.ensure_source(p.id, "labeling_function", "lf_a").id == a.id
    store.upsert_annotations(p.id, [
        AnnotationRecord(item_id=ids[0], source_id=a.id, label=1),
        AnnotationRecord(item_id=ids[1], source_id=a.id, label=0),
        AnnotationRecord(item_id=ids[1], source_id=b.id, label=1, seconds=3.5),
    ])
    store.upsert_annotations(p.id, [AnnotationRecord(item_id=ids[0], source_id=a.id, label=0)])
    lm = store.label_matrix(p.id)
    assert lm.item_ids == ids and lm.source_ids == [a.id, b.id]
    np.testing.assert_array_equal(lm.L, [[0, -1], [0, 1], [-1, -1], [-1, -1]])
    only_lf = store.label_matrix(p.id, kinds=["labeling_function"])
    assert only_lf.L.shape == (4, 1)
    human = store.annotations(p.id, kinds=["human"])
    assert [(h.item_id, h.label, h.seconds) for h in human] == [(ids[1], 1, 3.5)]


def test_replace_annotations_drops_stale_votes_only_where_asked(store: Store) -> None:
    p = store.create_project("p", SCHEMA)
    ids = store.import_records(p.id, _items(3)).item_ids
    lf = store.ensure_source(p.id, "labeling_function", "lf")
    other = store.ensure_source(p.id, "labeling_function", "other")
    store.upsert_annotations(p.id, [
        AnnotationRecord(item_id=i, source_id=s.id, label=1) for i in ids for s in (lf, other)
    ])
    # lf now votes 0 on item 0 and abstains on item 1; item 2 was not part of this run
    store.replace_annotations(p.id, [lf.id], ids[:2],
                              [AnnotationRecord(item_id=ids[0], source_id=lf.id, label=0)])
    np.testing.assert_array_equal(store.label_matrix(p.id).L, [[0, 1], [-1, 1], [1, 1]])
    with pytest.raises(ValidationError):  # outside what is replaced: nothing changes
        store.replace_annotations(p.id, [lf.id], ids[:1],
                                  [AnnotationRecord(item_id=ids[2], source_id=lf.id, label=0)])
    np.testing.assert_array_equal(store.label_matrix(p.id).L[:, 0], [0, -1, 1])


def test_replace_votes_writes_a_block_of_the_label_matrix(store: Store) -> None:
    p = store.create_project("p", SCHEMA)
    ids = store.import_records(p.id, _items(4)).item_ids
    a, b, c = (store.ensure_source(p.id, "labeling_function", n).id or 0 for n in "abc")
    store.upsert_annotations(p.id, [AnnotationRecord(item_id=i, source_id=s, label=1)
                                    for i in ids for s in (a, b, c)])
    # a and b on the first three items: a abstains on item 1, b everywhere but item 2
    n = store.replace_votes(p.id, [a, b], ids[:3], np.array([[0, -1], [-1, -1], [1, 0]]))
    assert n == 3
    np.testing.assert_array_equal(store.label_matrix(p.id).L,
                                  [[0, -1, 1], [-1, -1, 1], [1, 0, 1], [1, 1, 1]])
    got = {(v.annotation.item_id, v.annotation.source_id): v.annotation
           for v in store.votes(p.id)}
    assert (got[(ids[2], b)].label, got[(ids[2], b)].labels) == (0, None)
    assert store.status(p.id).sources[0].annotations == 3
    for bad in (np.zeros((3, 3), int), np.array([[0, -2], [0, 0], [0, 0]])):
        with pytest.raises(ValidationError):
            store.replace_votes(p.id, [a, b], ids[:3], bad)
    with pytest.raises(ValidationError, match="once"):
        store.replace_votes(p.id, [a, a], ids[:1], np.zeros((1, 2), int))
    other = store.create_project("q", SCHEMA)
    foreign = store.import_records(other.id, [ItemRecord(data={"text": "x"})]).item_ids
    with pytest.raises(NotFoundError):
        store.replace_votes(p.id, [a], foreign, np.zeros((1, 1), int))
    np.testing.assert_array_equal(store.label_matrix(p.id).L[:, 0], [0, -1, 1, 1])


def test_label_matrix_keeps_the_newest_version_of_a_source(store: Store) -> None:
    p = store.create_project("p", SCHEMA)
    ids = store.import_records(p.id, _items(2)).item_ids
    old = store.ensure_source(p.id, "model", "minilm", "v1")
    new = store.ensure_source(p.id, "model", "minilm", "v2")
    nli = store.ensure_source(p.id, "model", "nli", "v1")
    store.upsert_annotations(p.id, [
        AnnotationRecord(item_id=ids[0], source_id=old.id, label=1),
        AnnotationRecord(item_id=ids[0], source_id=new.id, label=0),
        AnnotationRecord(item_id=ids[1], source_id=nli.id, label=1),
    ])
    lm = store.label_matrix(p.id)
    assert lm.source_ids == [new.id, nli.id]
    np.testing.assert_array_equal(lm.L, [[0, -1], [-1, 1]])
    assert store.label_matrix(p.id, all_versions=True).source_ids == [old.id, new.id, nli.id]


def test_annotations_of_another_project_are_refused(store: Store) -> None:
    p = store.create_project("p", SCHEMA)
    q = store.create_project("q", SCHEMA)
    ids = store.import_records(p.id, _items(2)).item_ids
    src_q = store.ensure_source(q.id, "human", "ann")
    with pytest.raises(NotFoundError):
        store.upsert_annotations(q.id, [AnnotationRecord(item_id=ids[0], source_id=src_q.id,
                                                         label=0)])
    assert store.annotations(q.id) == []


def test_boxes_and_multilabel_round_trip(store: Store) -> None:
    det = LabelSchema.from_labels("object-detection", ["cell"])
    p = store.create_project("det", det)
    ids = store.import_records(p.id, [ItemRecord(data={"image": "a.png"}, width=10,
                                                 height=8)]).item_ids
    src = store.ensure_source(p.id, "model", "detector", "1")
    box = Box(x=1, y=2, w=3, h=4, label="cell", score=0.5)
    store.upsert_annotations(p.id, [AnnotationRecord(item_id=ids[0], source_id=src.id,
                                                     boxes=[box], needs_review=True)])
    got = store.annotations(p.id)[0]
    assert got.boxes == [box] and got.needs_review


def test_status_counts_by_state_and_source(store: Store) -> None:
    p = store.create_project("p", SCHEMA)
    ids = store.import_records(p.id, _items(5)).item_ids
    gold = store.ensure_source(p.id, "gold", "truth")
    model = store.ensure_source(p.id, "model", "zs", "1")
    human = store.ensure_source(p.id, "human", "ann")
    store.upsert_annotations(p.id, [
        AnnotationRecord(item_id=ids[0], source_id=gold.id, label=1),
        AnnotationRecord(item_id=ids[1], source_id=model.id, label=0, needs_review=True),
        AnnotationRecord(item_id=ids[2], source_id=model.id, label=0, confidence=0.99),
        AnnotationRecord(item_id=ids[3], source_id=human.id, label=1),
        AnnotationRecord(item_id=ids[3], source_id=model.id, label=1, needs_review=True),
    ])
    st = store.status(p.id)
    assert st.items == 5
    assert st.states == {"gold": 1, "human": 1, "needs_review": 1, "auto": 1, "unlabeled": 1}
    by_name = {s.name: s for s in st.sources}
    assert by_name["zs"].annotations == 3 and by_name["zs"].needs_review == 2
    as_json = st.to_dict()  # what `labelloop status --json` prints
    assert as_json["splits"] == {"train": 5} and as_json["states"] == st.states
    assert as_json["sources"][1] == {"kind": "model", "name": "zs", "version": "1",
                                     "annotations": 3, "needs_review": 2}


def test_embeddings_and_failures(store: Store) -> None:
    p = store.create_project("p", SCHEMA)
    ids = store.import_records(p.id, _items(3)).item_ids
    vecs = np.arange(6, dtype=np.float32).reshape(3, 2)
    store.put_embeddings("minilm", ids[:2], vecs[:2])
    found, arr = store.get_embeddings("minilm", ids)
    assert found == ids[:2]
    np.testing.assert_array_equal(arr, vecs[:2])
    store.record_failures(p.id, [Failure(ids[2], None, "lf", "ZeroDivisionError")])
    assert store.failures(p.id, stage="lf")[0].error == "ZeroDivisionError"


def test_llm_answers_and_runs(store: Store) -> None:
    from datetime import UTC, datetime

    p = store.create_project("p", SCHEMA)
    answer = {"content": '{"label": "spam"}', "tokens": [["spam", -0.1]], "prompt_tokens": 9,
              "completion_tokens": 3, "finish_reason": "stop"}
    store.put_llm_answers("m", {"k1": answer, "k2": {**answer, "content": "x"}})
    store.put_llm_answers("m", {"k1": {**answer, "content": "later"}})  # the first one stays
    assert store.llm_answers(["k1", "k3", "k1"]) == {"k1": answer}
    started = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    for n in (1, 2):
        store.record_llm_run(p.id, kind="prelabel", name="llm:m", model="m", started_at=started,
                             counts={"requests": n, "cached": 5, "prompt_tokens": 90,
                                     "completion_tokens": 30, "cost": 0.5,
                                     "budget_stop": "request budget of 2 reached"})
    runs = store.llm_runs(p.id)
    assert [r.requests for r in runs] == [2, 1] and runs[0].started_at == started
    assert runs[0].to_dict()["budget_stop"] == "request budget of 2 reached"
    assert store.llm_runs(p.id, limit=1)[0].id == runs[0].id


def test_export_snapshot_reads_everything(store: Store) -> None:
    p = store.create_project("p", SCHEMA)
    ids = store.import_records(p.id, _items(3)).item_ids
    src = store.ensure_source(p.id, "human", "ann")
    store.upsert_annotations(p.id, [AnnotationRecord(item_id=ids[0], source_id=src.id,
                                                     label=1)])
    snap = store.export_snapshot(p.id)
    assert [i.id for i in snap.items] == ids
    assert [s.name for s in snap.sources] == ["ann"]
    assert len(snap.annotations) == 1


def test_migrations_match_the_models(db_url: str) -> None:
    import importlib
    import pkgutil

    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import labelloop.storage
    from labelloop.storage.models import Base

    for mod in pkgutil.iter_modules(labelloop.storage.__path__):  # every table definition
        if mod.name != "migrations":
            importlib.import_module(f"labelloop.storage.{mod.name}")

    def declared(name: str | None, type_: str, parent: object) -> bool:
        # the search index (migration 0016) lives outside the models: an FTS5 table and
        # its shadow tables on SQLite, an expression index on PostgreSQL
        return not (name or "").startswith(("items_fts", "ix_items_search"))

    s = Store(db_url)
    with s.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": declared})
        diff = compare_metadata(context, Base.metadata)
    s.close()
    assert diff == []


def test_concurrent_writers_lose_nothing(db_url: str) -> None:
    """Several connections importing and annotating at once: every write lands."""
    import threading

    setup = Store(db_url)
    p = setup.create_project("p", SCHEMA)
    errors: list[BaseException] = []

    def worker(w: int) -> None:
        s = Store(db_url, migrate=False)
        try:
            for batch in range(5):
                items = [ItemRecord(data={"text": f"w{w} b{batch} i{i}"}) for i in range(20)]
                ids = s.import_records(p.id, items).item_ids
                src = s.ensure_source(p.id, "human", f"annotator{w}")
                s.upsert_annotations(p.id, [AnnotationRecord(item_id=i, source_id=src.id,
                                                             label=w % 2) for i in ids])
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)
        finally:
            s.close()

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert setup.count_items(p.id) == 4 * 5 * 20
    assert len(setup.annotations(p.id)) == 4 * 5 * 20
    setup.close()


def test_label_model_verdict_decides_the_state(store: Store) -> None:
    p = store.create_project("p", SCHEMA)
    ids = store.import_records(p.id, _items(2)).item_ids
    model = store.ensure_source(p.id, "model", "zs", "1")
    lm = store.ensure_source(p.id, "label_model", "lm")
    store.upsert_annotations(p.id, [
        AnnotationRecord(item_id=ids[0], source_id=model.id, label=0, needs_review=True),
        AnnotationRecord(item_id=ids[0], source_id=lm.id, label=0, confidence=0.97),
        AnnotationRecord(item_id=ids[1], source_id=model.id, label=1, confidence=0.99),
        AnnotationRecord(item_id=ids[1], source_id=lm.id, label=1, needs_review=True),
    ])
    states = store.status(p.id).states
    assert (states["auto"], states["needs_review"]) == (1, 1)


# -- the protocol and the repositories the services use -------------------------------------
def test_store_satisfies_the_protocol(store: Store) -> None:
    from labelloop.storage import StoreProtocol, protocol

    assert isinstance(store, StoreProtocol)
    for repo in (protocol.ProjectRepository, protocol.ItemRepository,
                 protocol.AnnotationRepository, protocol.StatusRepository,
                 protocol.AccountRepository, protocol.MemberRepository,
                 protocol.QueueRepository, protocol.ReviewRepository):
        assert isinstance(store, repo), repo.__name__
    assert not isinstance(object(), protocol.QueueRepository)


def test_projects_by_id_and_items_by_page(store: Store) -> None:
    p = store.create_project("p", SCHEMA)
    q = store.create_project("q", SCHEMA, ProjectSettings(overlap=3))
    assert store.project(q.id) == q
    assert [x.name for x in store.projects()] == ["p", "q"]
    with pytest.raises(NotFoundError):
        store.project(q.id + 100)
    ids = store.import_records(p.id, _items(5)).item_ids
    assert [i.id for i in store.items(p.id, offset=1, limit=2)] == ids[1:3]
    assert [i.id for i in store.items(p.id, offset=4)] == ids[4:]


def test_votes_and_a_users_own_answer(store: Store) -> None:
    p = store.create_project("p", SCHEMA)
    ids = store.import_records(p.id, _items(2)).item_ids
    alice = store.create_user("alice", "annotator", "hash")
    assert store.user_source_id(p.id, alice.id) is None
    mine = store.ensure_source(p.id, "human", "alice", user_id=alice.id)
    model = store.ensure_source(p.id, "model", "zs", "1")
    store.upsert_annotations(p.id, [
        AnnotationRecord(item_id=ids[1], source_id=model.id, label=0, confidence=0.9),
        AnnotationRecord(item_id=ids[1], source_id=mine.id, label=1),
        AnnotationRecord(item_id=ids[0], source_id=model.id, label=1),
    ])
    assert store.user_source_id(p.id, alice.id) == mine.id
    got = store.user_annotation(p.id, alice.id, ids[1])
    assert got is not None and got.label == 1
    assert store.user_annotation(p.id, alice.id, ids[0]) is None
    votes = store.votes(p.id)
    assert [(v.annotation.item_id, v.kind, v.source, v.user_id) for v in votes] == [
        (ids[0], "model", "zs", None), (ids[1], "human", "alice", alice.id),
        (ids[1], "model", "zs", None)]
    only = store.votes(p.id, item_ids=[ids[1]], kinds=["model"])
    assert [(v.source, v.annotation.confidence) for v in only] == [("zs", 0.9)]


def test_accounts_tokens_and_sessions(store: Store) -> None:
    from datetime import timedelta

    from labelloop.storage.models import utcnow

    alice = store.create_user("alice", "annotator", "h1")
    with pytest.raises(ConflictError):
        store.create_user("alice", "admin", "h2")
    bob = store.create_user("bob", "reviewer", "h3")
    assert [u.name for u in store.users()] == ["alice", "bob"]
    assert store.get_user(bob.id) == bob and store.get_user(bob.id + 100) is None
    assert store.user_by_name("bob") == bob and store.user_by_name("carol") is None
    assert store.user_credentials("alice") == (alice, "h1")
    store.add_token(alice.id, "tok-hash", "cli")
    assert store.token_user("tok-hash") == alice and store.token_user("other") is None
    with pytest.raises(NotFoundError):
        store.add_token(bob.id + 100, "x")
    later = utcnow() + timedelta(hours=1)
    store.add_session(alice.id, "sess-hash", later)
    found = store.session_user("sess-hash")
    assert found is not None and found[0] == alice
    assert abs((found[1] - later).total_seconds()) < 1e-3  # the zone survives SQLite
    store.set_password_hash(alice.id, "h4")  # a new password ends every session and token
    assert store.user_credentials("alice") == (alice, "h4")
    assert store.session_user("sess-hash") is None
    assert store.token_user("tok-hash") is None and store.tokens(alice.id) == []
    tok = store.add_token(alice.id, "tok-2", "ci", expires_at=later)
    [info] = store.tokens(alice.id)
    assert (info.id, info.name, info.last_used_at) == (tok, "ci", None)
    assert info.expires_at is not None and abs((info.expires_at - later).total_seconds()) < 1e-3
    store.touch_token(tok, later)
    login = store.token_login("tok-2")
    assert login is not None and login[0] == alice and login[1].last_used_at == later
    store.add_session(alice.id, "sess-2", later)
    off = store.set_user_active(alice.id, False)  # so does deactivation
    assert not off.active and store.session_user("sess-2") is None
    assert store.token_user("tok-2") == off  # the service refuses inactive users
    assert not store.revoke_token(bob.id, tok) and store.revoke_token(alice.id, tok)
    assert store.token_user("tok-2") is None
    store.add_session(bob.id, "sess-3", later)
    store.delete_session("sess-3")
    assert store.session_user("sess-3") is None
    with pytest.raises(NotFoundError):
        store.set_password_hash(bob.id + 100, "h")
    with pytest.raises(NotFoundError):
        store.set_user_active(bob.id + 100, True)


def test_members(store: Store) -> None:
    p = store.create_project("p", SCHEMA)
    q = store.create_project("q", SCHEMA)
    alice = store.create_user("alice", "annotator", "h")
    bob = store.create_user("bob", "annotator", "h")
    assert store.member_ids(p.id) == [] and store.memberships([p.id, q.id]) == []
    store.add_member(p.id, bob.id)
    store.add_member(p.id, alice.id)
    store.add_member(p.id, alice.id)  # twice: nothing changes
    store.add_member(q.id, bob.id)
    assert store.member_ids(p.id) == sorted([alice.id, bob.id])
    assert sorted(store.memberships([p.id])) == sorted([(p.id, alice.id), (p.id, bob.id)])
    with pytest.raises(NotFoundError):
        store.add_member(p.id, bob.id + 100)
    with pytest.raises(NotFoundError):
        store.add_member(q.id + 100, bob.id)
    assert store.remove_member(p.id, bob.id) is True
    assert store.remove_member(p.id, bob.id) is False
    assert store.member_ids(p.id) == [alice.id] and store.member_ids(q.id) == [bob.id]


def test_queue_claims_counts_and_undo(store: Store) -> None:
    from datetime import timedelta

    from labelloop.storage.models import utcnow

    p = store.create_project("p", SCHEMA)
    ids = store.import_records(p.id, _items(3)).item_ids
    gold = store.ensure_source(p.id, "gold", "truth")
    store.upsert_annotations(p.id, [AnnotationRecord(item_id=ids[2], source_id=gold.id,
                                                     label=1)])
    a = store.create_user("a", "annotator", "h").id
    b = store.create_user("b", "annotator", "h").id
    assert store.available_items(p.id, a, overlap=1) == 2  # the gold item is not regular
    assert store.open_claim(p.id, a) is None
    first = store.claim_next(p.id, a, overlap=1, minutes=5)
    assert first is not None and first.item_id == ids[0] and not first.honeypot
    assert store.open_claim(p.id, a) == first
    assert store.claim_next(p.id, a, overlap=1, minutes=5) == first  # the open one again
    assert store.available_items(p.id, b, overlap=1) == 1
    hp = store.claim_next(p.id, b, overlap=1, minutes=5, honeypot=True)
    assert hp is not None and hp.item_id == ids[2] and hp.honeypot
    store.finish_claim(p.id, a, ids[0], "submitted")
    store.finish_claim(p.id, a, ids[1], "skipped")  # a skip without a claim is recorded
    assert store.assignment_counts(p.id, a) == {"submitted": 1, "skipped": 1}
    assert store.available_items(p.id, a, overlap=1) == 0
    assert store.last_submitted(p.id, a) == ids[0]
    assert store.last_submitted(p.id, a, before=ids[0]) is None
    assert store.claim_item(p.id, a, ids[0] + 100, overlap=1, minutes=5) is None
    late = utcnow() + timedelta(minutes=10)  # b's honeypot claim has expired by then
    again = store.claim_item(p.id, a, ids[2], overlap=1, minutes=5, now=late)
    assert again is not None and again.honeypot
    assert store.open_claim(p.id, b, now=late) is None


def test_review_decisions_and_send_back(store: Store) -> None:
    from labelloop.storage.models import utcnow

    p = store.create_project("p", SCHEMA)
    ids = store.import_records(p.id, _items(2)).item_ids
    boss = store.create_user("boss", "reviewer", "h").id
    ann = store.create_user("ann", "annotator", "h").id
    claim = store.claim_next(p.id, ann, overlap=1, minutes=5)
    assert claim is not None and claim.item_id in ids and claim.user_id == ann
    src = store.ensure_source(p.id, "human", "ann", user_id=ann)
    store.upsert_annotations(p.id, [AnnotationRecord(item_id=claim.item_id, source_id=src.id,
                                                     label=0)])
    store.finish_claim(p.id, ann, claim.item_id, "submitted")
    other = store.create_user("other", "annotator", "h").id
    assert store.available_items(p.id, other, overlap=1) == 1
    assert store.decision_times(p.id) == {}
    t1 = utcnow()
    store.record_decision(p.id, ids[0], boss, "accept", {"label": 0}, "", t1)
    store.record_decision(p.id, ids[0], boss, "send_back", {}, "unsure", t1)
    times = store.decision_times(p.id)
    assert list(times) == [ids[0]] and abs((times[ids[0]] - t1).total_seconds()) < 1e-3
    assert store.available_items(p.id, other, overlap=1) == 2  # one more annotator wanted


# -- set-based writes: the bulk paths (more than one IN-list chunk) keep the semantics ----
BIG = 1200  # above storage.base.CHUNK: COPY on PostgreSQL, range check of owned items


def test_bulk_upsert_keeps_the_last_answer_and_refuses_foreign_items(store: Store) -> None:
    p = store.create_project("p", SCHEMA)
    q = store.create_project("q", SCHEMA)
    ids = store.import_records(p.id, _items(BIG)).item_ids
    foreign = store.import_records(q.id, [ItemRecord(data={"text": "other"})]).item_ids[0]
    lm_src = store.ensure_source(p.id, "label_model", "lm")
    first = [AnnotationRecord(item_id=i, source_id=lm_src.id, label=0, confidence=0.5,
                              probs=[0.5, 0.5]) for i in ids]
    # the same item twice in one call: the later answer wins
    later = [AnnotationRecord(item_id=i, source_id=lm_src.id, label=1, confidence=0.9,
                              probs=[0.1, 0.9], needs_review=True) for i in ids[::2]]
    assert store.upsert_annotations(p.id, first + later) == BIG + len(later)
    got = {a.item_id: a for a in store.annotations(p.id)}
    assert len(got) == BIG
    assert [got[i].label for i in ids[:4]] == [1, 0, 1, 0]
    assert got[ids[0]].probs == [0.1, 0.9] and got[ids[0]].needs_review
    assert got[ids[1]].confidence == 0.5 and not got[ids[1]].needs_review
    with pytest.raises(NotFoundError):  # one foreign item among many: nothing is written
        store.upsert_annotations(p.id, [
            AnnotationRecord(item_id=i, source_id=lm_src.id, label=0) for i in [*ids, foreign]])
    assert got[ids[0]].label == {a.item_id: a for a in store.annotations(p.id)}[ids[0]].label


def test_bulk_set_priorities_order_the_queue(store: Store) -> None:
    p = store.create_project("p", SCHEMA)
    ids = store.import_records(p.id, _items(BIG)).item_ids
    user = store.create_user("u", "annotator", "x")
    assert user.id is not None
    rng = np.random.default_rng(0)
    prios = {i: float(v) for i, v in zip(ids, rng.random(BIG), strict=True)}
    top = max(prios, key=lambda i: prios[i])
    store.set_priorities(p.id, prios)
    claim = store.claim_next(p.id, user.id, overlap=1, minutes=10)
    assert claim is not None and claim.item_id == top
    store.finish_claim(p.id, user.id, top, "skipped")
    store.set_priorities(p.id, {ids[5]: 10.0})  # the small path: one item moves to the top
    claim = store.claim_next(p.id, user.id, overlap=1, minutes=10)
    assert claim is not None and claim.item_id == ids[5]


def test_bulk_replace_of_human_answers_keeps_the_queue_counts(store: Store) -> None:
    p = store.create_project("p", SCHEMA)
    ids = store.import_records(p.id, _items(BIG)).item_ids
    user = store.create_user("u", "annotator", "x")
    assert user.id is not None
    crowd = store.ensure_source(p.id, "human", "crowd")
    store.upsert_annotations(p.id, [AnnotationRecord(item_id=i, source_id=crowd.id, label=0)
                                    for i in ids])
    assert store.available_items(p.id, user.id, overlap=1) == 0  # every item is answered
    keep = ids[: BIG // 2]
    store.replace_annotations(p.id, [crowd.id], ids, [
        AnnotationRecord(item_id=i, source_id=crowd.id, label=1) for i in keep])
    assert store.available_items(p.id, user.id, overlap=1) == BIG - len(keep)
    L = store.label_matrix(p.id).L[:, 0]
    assert (L[: len(keep)] == 1).all() and (L[len(keep):] == -1).all()


def test_available_items_counted_up_to_a_limit(store: Store) -> None:
    p = store.create_project("p", SCHEMA)
    ids = store.import_records(p.id, _items(30)).item_ids
    user = store.create_user("u", "annotator", "x").id
    other = store.create_user("o", "annotator", "x").id
    assert user is not None and other is not None
    for i in ids[:5]:  # the user answers five, the other person takes one of them
        assert store.submit_answer(p.id, user, AnnotationRecord(
            item_id=i, source_id=store.ensure_source(p.id, "human", "u", user_id=user).id,
            label=0), overlap=2, minutes=5)
    store.finish_claim(p.id, user, ids[5], "skipped")
    assert store.available_items(p.id, user, overlap=2) == 24
    for limit, want in ((1, 1), (10, 10), (24, 24), (100, 24)):
        assert store.available_items(p.id, user, overlap=2, limit=limit) == want
    # an overlap other than the one the queue's flags were computed with
    assert store.available_items(p.id, other, overlap=1) == 25
    assert store.available_items(p.id, other, overlap=1, limit=20) == 20
    assert store.available_items(p.id, other, overlap=2, limit=100) == 30


def test_import_batches_is_all_or_nothing_and_records_the_file(store: Store) -> None:
    p = store.create_project("p", SCHEMA)
    items = _items(30)

    def batches() -> Any:
        yield items[:10], [PendingAnnotation(items[0].content_hash, "gold", "g", label=1)]
        yield items[10:20], []
        raise ValidationError("a bad row at the end")

    with pytest.raises(ValidationError):
        store.import_batches(p.id, batches(), file_key="k1", file_name="f.csv")
    assert store.count_items(p.id) == 0 and store.sources(p.id) == []
    assert store.imported_file(p.id, "k1") is None
    res = store.import_batches(p.id, [(items[:10], []), (items[5:30], [])], file_key="k1")
    assert (res.added, res.skipped) == (30, 5)
    done = store.imported_file(p.id, "k1")
    assert done is not None and done.unchanged and done.skipped == 35
    assert store.imported_file(p.id, "other") is None


def test_export_stream_pages_by_id_with_their_annotations(store: Store) -> None:
    p = store.create_project("p", SCHEMA)
    q = store.create_project("q", SCHEMA)
    ids = store.import_records(p.id, _items(25)).item_ids
    store.import_records(q.id, [ItemRecord(data={"text": "not mine"})])
    src = store.ensure_source(p.id, "human", "ann")
    store.upsert_annotations(p.id, [AnnotationRecord(item_id=i, source_id=src.id, label=1)
                                    for i in ids[::3]])
    with store.export_stream(p.id, page_size=10) as stream:
        assert [s.id for s in stream.sources] == [src.id]
        pages = list(stream.pages())
        assert [len(pg.items) for pg in pages] == [10, 10, 5]
        assert [it.id for pg in pages for it in pg.items] == ids
        assert [a.item_id for pg in pages for a in pg.annotations] == ids[::3]
        assert stream.data_keys() == ["text"]
        store.import_records(p.id, [ItemRecord(data={"text": "late"})])  # after the snapshot
        again = list(stream.pages(annotations=False))
        assert [it.id for pg in again for it in pg.items] == ids
        assert all(not pg.annotations for pg in again)
    with pytest.raises(ValidationError), store.export_stream(p.id, page_size=0):
        pass


def test_upsert_posterior_writes_batches_in_one_transaction(store: Store) -> None:
    p = store.create_project("p", SCHEMA)
    ids = store.import_records(p.id, _items(7)).item_ids
    src = store.ensure_source(p.id, "label_model", "lm", "v1")
    P = np.array([[0.9, 0.1]] * 3 + [[0.2, 0.8]] * 3 + [[0.5, 0.5]])
    pred = np.array([0, 0, 0, 1, 1, 1, -1])
    n = store.upsert_posterior(p.id, int(src.id or 0), ids, pred, P.max(axis=1), P,
                               P.max(axis=1) < 0.6, batch_size=2)
    assert n == 7
    got = {a.item_id: a for a in store.annotations(p.id, kinds=["label_model"])}
    assert [got[i].label for i in ids] == [0, 0, 0, 1, 1, 1, None]
    assert got[ids[3]].probs == pytest.approx([0.2, 0.8])
    assert got[ids[3]].confidence == pytest.approx(0.8)
    assert [got[i].needs_review for i in ids] == [False] * 6 + [True]
    # a new posterior replaces the old one; an item of another project refuses the lot
    other = store.create_project("q", SCHEMA)
    foreign = store.import_records(other.id, [ItemRecord(data={"text": "elsewhere"})]).item_ids
    with pytest.raises(NotFoundError):
        store.upsert_posterior(p.id, int(src.id or 0), [*ids, *foreign], np.ones(8, int),
                               np.ones(8), np.tile([0.0, 1.0], (8, 1)), np.zeros(8, bool),
                               batch_size=2)
    assert [a.label for a in store.annotations(p.id, kinds=["label_model"])] == \
        [0, 0, 0, 1, 1, 1, None]
    with pytest.raises(ValidationError, match="one label"):
        store.upsert_posterior(p.id, int(src.id or 0), ids, pred[:3], P.max(axis=1), P,
                               np.zeros(7, bool))


def test_get_embeddings_keeps_the_order_asked_over_many_ids(store: Store) -> None:
    p = store.create_project("p", SCHEMA)
    ids = store.import_records(p.id, _items(700)).item_ids  # past one IN list
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(700, 4)).astype(np.float32)
    store.put_embeddings("m", ids[:650], vecs[:650])
    found, arr = store.get_embeddings("m", ids)
    assert found == ids[:650] and np.array_equal(arr, vecs[:650])
    asked = [ids[5], ids[690], ids[3], ids[5], ids[600]]  # shuffled, repeated, one missing
    found, arr = store.get_embeddings("m", asked)
    assert found == [ids[5], ids[3], ids[5], ids[600]]
    assert np.array_equal(arr, vecs[[5, 3, 5, 600]])
    assert store.get_embeddings("other", ids)[0] == []


def test_imported_items_read_back_as_stored_by_the_models(store: Store) -> None:
    """Items written as plain rows (pre-encoded JSON, given ids) read back like any other:
    data and meta equal (key order kept), the timestamp in the models' format, re-import
    and a half-new batch recognised, queue rows for the new items only."""
    from sqlalchemy import text

    from labelloop.core.records import ImportItem, import_item

    p = store.create_project("p", SCHEMA)
    data = {"text": "naïve ☃ \u2028 \"q\"", "b": 1.5, "a": [1, None, True], "n": {"z": 1}}
    first = [import_item(data, meta={"k": "é"}, split="valid", external_id="x1"),
             ItemRecord(data={"text": "plain"}, width=3, height=4)]
    res = store.import_batches(p.id, [(first, [])], file_key="k1", file_name="f.csv")
    assert res.added == 2
    got = store.items(p.id)
    assert got[0].data == data and list(got[0].data) == list(data)
    assert (got[0].meta, got[0].split, got[0].external_id) == ({"k": "é"}, "valid", "x1")
    assert (got[1].width, got[1].height, got[1].content_hash) == (3, 4, first[1].content_hash)
    assert isinstance(first[0], ImportItem) and got[0].content_hash == first[0].content_hash
    with store.engine.connect() as conn:
        stamps = {r[0] for r in conn.execute(text(
            "SELECT created_at FROM items UNION SELECT created_at FROM import_files"))}
    assert len(stamps) == 1  # the same text as the models write
    again = store.import_records(p.id, [ItemRecord(data={"text": "new"}), *first])
    assert (again.added, again.skipped) == (1, 2)
    assert again.item_ids[1:] == res.item_ids
    assert store.count_items(p.id) == 3
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM claim_queue")).scalar() == 3


def test_an_empty_import_adds_nothing_and_does_not_fail(store: Store) -> None:
    pid = store.create_project("empty", SCHEMA).id
    res = store.import_records(pid, [])
    assert (res.added, res.skipped, res.item_ids) == (0, 0, [])
    assert store.import_batches(pid, [([], []), ([ItemRecord(data={"text": "x"})], [])]).added == 1
    assert store.count_items(pid) == 1


def test_vote_columns_are_the_single_label_annotations(store: Store) -> None:
    """``vote_columns`` gives what ``annotations`` gives (label not null), as arrays by
    item then source, the confidence falling back to the largest probability, else NaN."""
    p = store.create_project("p", SCHEMA)
    ids = store.import_records(p.id, _items(BIG)).item_ids
    old = store.ensure_source(p.id, "label_model", "lm", "v1")
    new = store.ensure_source(p.id, "label_model", "lm", "v2")
    human = store.ensure_source(p.id, "human", "ann")
    rng = np.random.default_rng(0)
    store.upsert_annotations(p.id, [
        AnnotationRecord(item_id=i, source_id=int(src.id or 0),
                         label=None if rng.random() < 0.1 else int(rng.integers(2)),
                         confidence=None if rng.random() < 0.3 else float(rng.random()),
                         probs=None if rng.random() < 0.5 else [0.25, 0.75])
        for i in ids for src in (new, old) if rng.random() < 0.7])
    store.upsert_annotations(p.id, [AnnotationRecord(item_id=ids[3], source_id=int(human.id or 0),
                                                     label=1)])
    cols = store.vote_columns(p.id, kinds=["label_model"])
    want = sorted(((a.item_id, a.source_id), a)
                  for a in store.annotations(p.id, kinds=["label_model"]) if a.label is not None)
    assert list(zip(cols.item_ids.tolist(), cols.source_ids.tolist(), strict=True)) == \
        [k for k, _ in want]
    assert cols.labels.tolist() == [a.label for _, a in want]
    expected = [a.confidence if a.confidence is not None else
                (max(a.probs) if a.probs else np.nan) for _, a in want]
    np.testing.assert_array_equal(cols.confidence, np.asarray(expected, dtype=float))
    assert cols.item_ids.dtype == np.int64 and cols.confidence.dtype == np.float64
    assert store.vote_columns(p.id, kinds=["human"]).item_ids.tolist() == [ids[3]]
    assert store.vote_columns(p.id, kinds=["gold"]).item_ids.size == 0


def test_get_embeddings_into_a_file_reads_as_in_memory(store: Store, tmp_path: Any) -> None:
    p = store.create_project("p", SCHEMA)
    ids = store.import_records(p.id, _items(BIG)).item_ids
    vecs = np.random.default_rng(0).normal(size=(BIG, 6)).astype(np.float32)
    have = [k for k in range(BIG) if k % 7]  # some items have no vector
    store.put_embeddings("m", [ids[k] for k in have], vecs[have])
    for asked in (ids, ids[10:20], [ids[1]]):
        found, X = store.get_embeddings("m", asked)
        found_f, X_f = store.get_embeddings("m", asked, path=tmp_path / f"v{len(asked)}.f32")
        assert isinstance(X_f, np.memmap) and not X_f.flags.writeable
        assert found_f == found and np.array_equal(np.asarray(X_f), X)
    shuffled = [ids[5], ids[2], ids[5]]  # not increasing: read into memory
    found, X = store.get_embeddings("m", shuffled, path=tmp_path / "s.f32")
    assert found == shuffled and not isinstance(X, np.memmap)
    assert np.array_equal(X, vecs[[5, 2, 5]])
    assert store.get_embeddings("other", ids, path=tmp_path / "o.f32")[0] == []


def test_priority_writes_past_the_rebuild_size_store_the_same(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A big priority write (SQLite: indexes dropped and built again) stores what the
    row-by-row path stores, and the queue index is there and used afterwards."""
    from sqlalchemy import text

    from labelloop.storage import items as items_module

    got = []
    for n, rebuild in enumerate((10**9, 1)):
        monkeypatch.setattr(items_module, "REBUILD_ROWS", rebuild)
        rng = np.random.default_rng(0)
        store = Store(db_url)
        try:
            p = store.create_project(f"p{n}", SCHEMA)
            ids = store.import_records(p.id, [ItemRecord(data={"text": f"{n} {i}"})
                                              for i in range(BIG)]).item_ids
            prios = dict(zip(ids[5:], rng.random(BIG - 5).tolist(), strict=True))
            store.set_priorities(p.id, prios)
            with store.engine.connect() as c:
                got.append((
                    c.execute(text("SELECT priority FROM items WHERE project_id = :p ORDER BY id"),
                              {"p": p.id}).scalars().all(),
                    [tuple(r) for r in c.execute(text(
                        "SELECT unranked, sort_key FROM claim_queue WHERE project_id = :p "
                        "ORDER BY item_id"), {"p": p.id})]))
                if db_url.startswith("sqlite"):
                    names = set(c.execute(text(
                        "SELECT name FROM sqlite_master WHERE type = 'index'")).scalars())
                    assert {"ix_items_project_priority_id",
                            "ix_claim_queue_next"} <= names
            user = store.create_user(f"u{n}", "annotator", "x")
            claim = store.claim_next(p.id, int(user.id or 0), overlap=1, minutes=10)
            assert claim is not None and claim.item_id == max(prios, key=prios.__getitem__)
        finally:
            store.close()
    assert got[0] == got[1]
    assert got[0][0][:5] == [None] * 5 and bool(got[0][1][0][0]) is True


def test_a_big_posterior_is_stored_and_replaced_whole(store: Store) -> None:
    """Past one batch (SQLite: plain inserts the first time, upserts after; PostgreSQL: one
    COPY and one upsert) every item gets its label, confidence, probabilities and flag."""
    p = store.create_project("p", SCHEMA)
    ids = store.import_records(p.id, _items(BIG)).item_ids
    src = int(store.ensure_source(p.id, "label_model", "lm").id or 0)
    rng = np.random.default_rng(0)
    for _ in range(2):  # the second posterior replaces the first
        P = rng.dirichlet([1.0, 1.0], size=BIG)
        pred = np.where(P.max(axis=1) < 0.55, -1, P.argmax(axis=1))
        store.upsert_posterior(p.id, src, ids, pred, P.max(axis=1), P, P.max(axis=1) < 0.7,
                               batch_size=500)
        got = {a.item_id: a for a in store.annotations(p.id, kinds=["label_model"])}
        assert len(got) == BIG
        assert [got[i].label for i in ids] == [None if y < 0 else int(y) for y in pred]
        assert [got[i].probs for i in ids] == P.tolist()
        assert [got[i].confidence for i in ids] == P.max(axis=1).tolist()
        assert [got[i].needs_review for i in ids] == (P.max(axis=1) < 0.7).tolist()
    status = {(c.kind, c.name): c.annotations for c in store.status(p.id).sources}
    assert status[("label_model", "lm")] == BIG
