"""Race-free claiming: overlap, expiry, honeypots, one claim per user, concurrency."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from labelloop.core.records import AnnotationRecord, ItemRecord
from labelloop.core.schema import LabelSchema, ProjectSettings
from labelloop.storage import Store
from labelloop.storage.models import AssignmentRow, UserRow, utcnow


def _setup(url: str, n_items: int = 6, n_users: int = 3, overlap: int = 2):
    store = Store(url)
    p = store.create_project("p", LabelSchema.from_labels("text-classification", ["a", "b"]),
                             ProjectSettings(overlap=overlap))
    res = store.import_records(p.id, [ItemRecord(data={"text": f"t{i}"}) for i in range(n_items)])
    return store, p, res.item_ids, _users(store, "u", n_users)


def _open_claims(store: Store) -> Counter[int]:
    with store.snapshot() as s:
        return Counter(s.scalars(select(AssignmentRow.item_id).where(
            AssignmentRow.state == "claimed")))


def test_overlap_caps_claims_and_users_never_repeat(tmp_path: Path) -> None:
    store, p, items, uids = _setup(f"sqlite:///{tmp_path / 'x.db'}", n_items=2, n_users=3)
    got = {}
    for uid in uids:
        c = store.claim_next(p.id, uid, overlap=2, minutes=5)
        got[uid] = None if c is None else c.item_id
    assert got[uids[0]] == got[uids[1]] == items[0]
    assert got[uids[2]] == items[1]
    assert store.available_items(p.id, uids[2], overlap=2) == 0  # item 0 is full
    assert store.available_items(p.id, uids[2], overlap=3) == 1
    assert max(_open_claims(store).values()) <= 2
    again = store.claim_next(p.id, uids[0], overlap=2, minutes=5)
    assert again is not None and again.item_id == items[0]  # the open claim comes back
    store.finish_claim(p.id, uids[0], items[0], "skipped")
    nxt = store.claim_next(p.id, uids[0], overlap=2, minutes=5)
    assert nxt is not None and nxt.item_id == items[1]


def test_priority_order_and_expiry(tmp_path: Path) -> None:
    store, p, items, uids = _setup(f"sqlite:///{tmp_path / 'x.db'}", overlap=1)
    store.set_priorities(p.id, {items[3]: 0.9, items[1]: 0.5})
    now = utcnow()
    first = store.claim_next(p.id, uids[0], overlap=1, minutes=5, now=now)
    assert first is not None and first.item_id == items[3]
    second = store.claim_next(p.id, uids[1], overlap=1, minutes=5, now=now)
    assert second is not None and second.item_id == items[1]
    later = now + timedelta(minutes=6)
    third = store.claim_next(p.id, uids[2], overlap=1, minutes=5, now=later)
    assert third is not None and third.item_id == items[3]  # the expired claim came back


def test_human_labels_count_toward_overlap(tmp_path: Path) -> None:
    store, p, items, uids = _setup(f"sqlite:///{tmp_path / 'x.db'}", n_items=1, overlap=1)
    src = store.ensure_source(p.id, "human", "imported")
    store.upsert_annotations(p.id, [AnnotationRecord(item_id=items[0], source_id=src.id,
                                                     label=0)])
    assert store.claim_next(p.id, uids[0], overlap=1, minutes=5) is None


def test_honeypots_come_from_gold_and_are_not_regular_work(tmp_path: Path) -> None:
    store, p, items, uids = _setup(f"sqlite:///{tmp_path / 'x.db'}", n_items=3, overlap=1)
    gold = store.ensure_source(p.id, "gold", "reference")
    store.upsert_annotations(p.id, [AnnotationRecord(item_id=items[0], source_id=gold.id,
                                                     label=1)])
    regular = store.claim_next(p.id, uids[0], overlap=1, minutes=5)
    assert regular is not None and regular.item_id != items[0] and not regular.honeypot
    hp = store.claim_next(p.id, uids[1], overlap=1, minutes=5, honeypot=True)
    assert hp is not None and hp.item_id == items[0] and hp.honeypot
    hp2 = store.claim_next(p.id, uids[2], overlap=1, minutes=5, honeypot=True)
    assert hp2 is not None and hp2.item_id == items[0]  # honeypots ignore overlap


def _race(db_url: str, uids: list[int], job: Callable[[Store, int], object]
          ) -> list[BaseException]:
    """Run ``job(store, uid)`` for every user at once, each on its own connection pool."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(uids))

    def work(uid: int) -> None:
        own = Store(db_url, migrate=False)
        try:
            barrier.wait()
            job(own, uid)
        except BaseException as exc:
            errors.append(exc)
        finally:
            own.close()

    threads = [threading.Thread(target=work, args=(u,)) for u in uids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return errors


def test_concurrent_claims_never_exceed_overlap(db_url: str) -> None:
    store, p, items, uids = _setup(db_url, n_items=6, n_users=10, overlap=2)
    errors = _race(db_url, uids, lambda own, uid: own.claim_next(p.id, uid, overlap=2, minutes=5))
    assert not errors, errors
    per_item = _open_claims(store)
    assert sum(per_item.values()) == len(uids)  # 6 items x 2 >= 10 users: everyone got one
    assert max(per_item.values()) <= 2, per_item
    assert set(per_item) <= set(items)
    store.close()


def test_concurrent_claim_and_skip_never_repeat_an_item(db_url: str) -> None:
    store, p, _items, uids = _setup(db_url, n_items=5, n_users=8, overlap=2)

    def job(own: Store, uid: int) -> None:
        for _ in range(3):
            c = own.claim_next(p.id, uid, overlap=2, minutes=5)
            if c is None:
                return
            own.finish_claim(p.id, uid, c.item_id, "skipped")

    assert not _race(db_url, uids, job)
    with store.snapshot() as s:
        rows = s.execute(select(AssignmentRow.item_id, AssignmentRow.user_id)).all()
    store.close()
    assert rows and len(set(rows)) == len(rows), "a user got the same item twice"


def _users(store: Store, prefix: str, n: int) -> list[int]:
    with store.write() as s:
        rows = [UserRow(name=f"{prefix}{i}", role="annotator", active=True, created_at=utcnow())
                for i in range(n)]
        s.add_all(rows)
        s.flush()
        return [r.id for r in rows]
