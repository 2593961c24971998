"""Review queue reasons, automated checks and decisions (services, no HTTP)."""

from __future__ import annotations

from pathlib import Path

import pytest

from labelloop.core.records import AnnotationRecord, ItemRecord, UserRecord
from labelloop.core.schema import LabelSchema, ProjectSettings
from labelloop.services.queue import Answer
from labelloop.services.review import Review
from labelloop.storage import Store
from labelloop.storage.models import UserRow, utcnow


def _project(tmp_path: Path, n: int = 30):
    store = Store(f"sqlite:///{tmp_path / 'x.db'}")
    p = store.create_project("p", LabelSchema.from_labels("text-classification", ["ham", "spam"]),
                             ProjectSettings(overlap=2))
    ids = store.import_records(p.id, [ItemRecord(data={"text": f"t{i}"})
                                      for i in range(n)]).item_ids
    return store, p, ids


def _label(store: Store, pid: int, kind: str, name: str, pairs: list[tuple[int, int]],
           **kw: object) -> None:
    src = store.ensure_source(pid, kind, name)
    store.upsert_annotations(pid, [AnnotationRecord(item_id=i, source_id=src.id, label=c, **kw)
                                   for i, c in pairs])


def test_checks_flag_spammers_and_model_disagreements(tmp_path: Path) -> None:
    store, p, ids = _project(tmp_path)
    _label(store, p.id, "human", "careful", [(i, i % 2) for i in ids])
    _label(store, p.id, "human", "careful2", [(i, i % 2) for i in ids])
    _label(store, p.id, "human", "lazy", [(i, 0) for i in ids])
    _label(store, p.id, "model", "clf", [(ids[0], 1)], confidence=0.97)
    review = Review(store, p)
    flags = review.check_flags()
    assert [n.split(":")[0] for n in flags[ids[2]]] == ["lazy"]
    assert "answers 'ham' 100% of the time" in flags[ids[2]][0]
    assert any("the model says 'spam'" in n for n in flags[ids[0]])
    entries = {e.item.id: e for e in review.queue(reason="check", limit=100)}
    assert ids[0] in entries and "check" in entries[ids[0]].reasons
    assert entries[ids[0]].notes


def _reviewer(store: Store) -> UserRecord:
    with store.write() as s:
        row = UserRow(name="boss", role="reviewer", active=True, created_at=utcnow())
        s.add(row)
        s.flush()
        return UserRecord(id=row.id, name=row.name, role="reviewer")


def test_decisions_resolve_flags_until_new_votes(tmp_path: Path) -> None:
    store, p, ids = _project(tmp_path, n=3)
    _label(store, p.id, "label_model", "lm", [(ids[0], 1)], confidence=0.4, needs_review=True)
    review = Review(store, p)
    assert [e.reasons for e in review.queue()] == [["needs_review"]]
    boss = _reviewer(store)
    review.decide(boss, ids[0], "accept", Answer(label=1))
    assert review.queue() == []
    gold = store.sources(p.id, kinds=["gold"])
    assert [g.name for g in gold] == ["review:boss"] and gold[0].user_id == boss.id
    _label(store, p.id, "human", "a", [(ids[0], 0)])  # a new vote disagrees with the gold
    # the label model's flag no longer counts: a person and a gold answer are there
    assert [e.reasons for e in review.queue()] == [["honeypot_miss"]]
    review.decide(boss, ids[0], "send_back", note="ask again")
    assert review.queue() == []


def test_scorecards_count_honeypots_and_agreement(tmp_path: Path) -> None:
    store, p, ids = _project(tmp_path, n=4)
    _label(store, p.id, "gold", "ref", [(ids[0], 1), (ids[1], 0)])
    with store.write() as s:
        rows = [UserRow(name=n, role="annotator", active=True, created_at=utcnow())
                for n in ("a", "b")]
        s.add_all(rows)
        s.flush()
        users = [UserRecord(id=r.id, name=r.name, role="annotator") for r in rows]
    for u, labels in zip(users, ([1, 1, 0, 1], [1, 0, 0, 0]), strict=True):
        src = store.ensure_source(p.id, "human", u.name, user_id=u.id)
        store.upsert_annotations(p.id, [AnnotationRecord(item_id=i, source_id=src.id, label=c,
                                                         seconds=2.0)
                                        for i, c in zip(ids, labels, strict=True)])
    cards = {c.name: c for c in Review(store, p).scorecards(users)}
    assert cards["a"].honeypots == 2 and cards["a"].honeypot_accuracy == 0.5
    assert cards["b"].honeypot_accuracy == 1.0
    assert cards["a"].agreement == 0.5 and cards["a"].median_seconds == 2.0
    low, high = cards["b"].honeypot_interval
    assert 0.3 < low < 1.0 and high == 1.0


def test_scorecards_carry_peer_kappa_and_trend_from_the_quality_engine(tmp_path: Path) -> None:
    from labelloop.quality import cohen_kappa

    store, p, ids = _project(tmp_path, n=40)
    _label(store, p.id, "gold", "ref", [(i, n % 2) for n, i in enumerate(ids[:20])])
    with store.write() as s:
        rows = [UserRow(name=n, role="annotator", active=True, created_at=utcnow())
                for n in ("good", "good2", "drifts")]
        s.add_all(rows)
        s.flush()
        users = [UserRecord(id=r.id, name=r.name, role="annotator") for r in rows]
    good = [n % 2 for n in range(40)]
    drifts = [n % 2 if n < 20 else 0 for n in range(40)]  # right at first, then only 'ham'
    for u, labels in zip(users, (good, good, drifts), strict=True):
        src = store.ensure_source(p.id, "human", u.name, user_id=u.id)
        store.upsert_annotations(p.id, [AnnotationRecord(item_id=i, source_id=src.id, label=c)
                                        for i, c in zip(ids, labels, strict=True)])
    cards = {c.name: c for c in Review(store, p).scorecards(users)}
    kappa = cohen_kappa(good, drifts)
    assert 0 < kappa < 1
    assert abs(cards["drifts"].peer_kappa - kappa) < 1e-9
    assert abs(cards["good"].peer_kappa - (1 + kappa) / 2) < 1e-9  # equal overlap weights
    # blocks of 20 labels against gold, then against the consensus of all three
    assert cards["good"].trend == [1.0, 1.0]
    assert cards["drifts"].trend == [1.0, 0.5]
    assert cards["good"].consensus_accuracy == 1.0 and cards["drifts"].consensus_accuracy == 0.75
    # rows: reference ham/spam; the drifter answered 'ham' on 10 spam items
    assert cards["drifts"].confusion == [[20, 0], [10, 10]]


def test_box_answers_match_one_to_one_like_the_quality_report(tmp_path: Path) -> None:
    """A greedy matcher pairs a1 with b1 first and then finds nothing for a2; the
    Hungarian matching of quality.box_agreement pairs a1-b2 and a2-b1."""
    from labelloop.core.records import Box
    from labelloop.quality import box_agreement
    from labelloop.services.queue import answers_match

    def ann(xs: list[float]) -> AnnotationRecord:
        return AnnotationRecord(item_id=1, source_id=1,
                                boxes=[Box(x=x, y=0, w=10, h=10, label="cell") for x in xs])

    a, b = ann([10, 14]), ann([12, 8])
    assert answers_match(a, b) and answers_match(b, a)
    report = box_agreement([[10, 0, 10, 10], [14, 0, 10, 10]],
                           [[12, 0, 10, 10], [8, 0, 10, 10]])
    assert report.f1 == 1.0
    assert not answers_match(a, ann([12, 40]))
    assert not answers_match(a, ann([10]))
    assert answers_match(ann([]), ann([]))


def test_one_decision_path_for_votes_raw_answers_and_send_back(tmp_path: Path) -> None:
    from labelloop.errors import ValidationError

    store, p, ids = _project(tmp_path, n=2)
    _label(store, p.id, "model", "zs", [(ids[0], 1)], confidence=0.6, needs_review=True)
    review = Review(store, p)
    boss = _reviewer(store)
    kept = review.decide(boss, ids[0], "accept", vote="zs")  # the HTML form's accept
    assert kept is not None and kept.label == 1
    fixed = review.decide(boss, ids[0], "correct", {"label": "ham"})  # API body or form
    assert fixed is not None and fixed.label == 0
    assert review.decide(boss, ids[1], "send_back", {"label": "ham"}, "why") is None
    for bad in ({"decision": "accept", "vote": "nobody"}, {"decision": "accept"},
                {"decision": "correct", "answer": {"label": "eggs"}},
                {"decision": "maybe", "answer": Answer(label=0)}):
        with pytest.raises(ValidationError):
            review.decide(boss, ids[0], **bad)
    gold = store.annotations(p.id, kinds=["gold"])
    assert [(g.item_id, g.label) for g in gold] == [(ids[0], 0)]
    assert set(store.decision_times(p.id)) == {ids[0], ids[1]}


def test_first_admin_is_created_once(tmp_path: Path) -> None:
    from argon2 import PasswordHasher

    from labelloop.services.users import Users

    store = Store(f"sqlite:///{tmp_path / 'x.db'}")
    users = Users(store, hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    users.add("admin", "annotator", "password1234")  # the name is taken by a non-admin
    first = users.ensure_admin()
    assert first is not None and first[0].name == "admin-1" and first[0].role == "admin"
    assert users.authenticate("admin-1", first[1]) == first[0]
    assert users.ensure_admin() is None
    users.set_active(first[0].id, False)  # no active admin left: a new one is made
    again = users.ensure_admin()
    assert again is not None and (again[0].name, again[0].role) == ("admin-2", "admin")


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_flagged_drafts_count_only_where_no_one_answered(backend: str, tmp_path: Path,
                                                         request: pytest.FixtureRequest
                                                         ) -> None:
    """A zero-shot model flags every draft: the review queue holds only the items whose
    state is needs_review (no person, no gold, the label model unsure), the number the
    progress figures show (issue 13: 1956 waiting vs 183 in the bar)."""
    if backend == "sqlite":
        store, p, ids = _project(tmp_path, n=6)
    else:
        store = Store(request.getfixturevalue("postgres_url"))
        p = store.create_project("p", LabelSchema.from_labels("text-classification",
                                                              ["ham", "spam"]))
        ids = store.import_records(p.id, [ItemRecord(data={"text": f"t{i}"})
                                          for i in range(6)]).item_ids
    _label(store, p.id, "model", "zero-shot", [(i, 1) for i in ids], confidence=0.6,
           needs_review=True)
    _label(store, p.id, "gold", "ref", [(ids[0], 1)])
    _label(store, p.id, "human", "ann", [(ids[1], 1)])
    _label(store, p.id, "label_model", "lm", [(ids[2], 1)], confidence=0.99)
    _label(store, p.id, "label_model", "lm", [(ids[3], 1)], confidence=0.55, needs_review=True)
    review = Review(store, p)
    waiting = [e.item.id for e in review.queue(limit=100)]
    assert waiting == [ids[3], ids[4], ids[5]]
    assert review.count() == 3 == review.count(reason="needs_review")
    assert store.status(p.id).states["needs_review"] == 3
