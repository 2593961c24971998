"""Many clients race for one item: never more claims than the overlap, never one user twice.

Each round imports one new item into a project of overlap k (k = 1, 2, 3 in turn) and
lets every client, each on its own Store (own connections), claim at the same instant;
the winners then answer, so the item is done before the next round. The benchmark
variant runs ``LABELLOOP_RACE_ROUNDS=1002`` rounds.
"""

from __future__ import annotations

import os
import threading
from collections import Counter

from helpers import make_project, make_users, repeated_assignments, taken_per_item

from labelloop.core.records import AnnotationRecord, ItemRecord
from labelloop.storage import Store

ROUNDS = int(os.environ.get("LABELLOOP_RACE_ROUNDS", "201"))
CLIENTS = 4


def test_overlap_race_one_item_at_a_time(db_url: str) -> None:
    setup = Store(db_url)
    projects = {k: make_project(setup, f"race{k}", 0, k)[0] for k in (1, 2, 3)}
    users = make_users(setup, "racer", CLIENTS)
    sources = {(k, u): int(setup.ensure_source(pid, "human", f"racer{u}", user_id=u).id or 0)
               for k, pid in projects.items() for u in users}
    start, done = threading.Barrier(CLIENTS + 1), threading.Barrier(CLIENTS + 1)
    won: list[list[int]] = [[] for _ in range(ROUNDS)]
    errors: list[BaseException] = []

    def client(u: int) -> None:
        own = Store(db_url, migrate=False)
        try:
            for r in range(ROUNDS):
                k = r % 3 + 1
                start.wait(60)
                try:
                    claim = own.claim_next(projects[k], u, overlap=k, minutes=5)
                    if claim is not None:
                        won[r].append(claim.item_id)
                        assert own.submit_answer(projects[k], u, AnnotationRecord(
                            item_id=claim.item_id, source_id=sources[(k, u)], label=0),
                            overlap=k, minutes=5)
                except BaseException as exc:  # reported by the main thread
                    errors.append(exc)
                done.wait(60)
        finally:
            own.close()

    threads = [threading.Thread(target=client, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for r in range(ROUNDS):
        k = r % 3 + 1
        item = setup.import_records(projects[k], [ItemRecord(data={"text": f"round {r}"})])
        start.wait(60)
        done.wait(60)
        assert not errors, errors
        assert won[r] == [item.item_ids[0]] * k, (r, k, won[r])  # exactly k winners
    for t in threads:
        t.join(60)
    for k, pid in projects.items():
        taken = taken_per_item(setup, pid)
        assert max(taken.values()) == k and set(Counter(taken.values())) == {k}
        assert repeated_assignments(setup, pid) == []
    setup.close()
