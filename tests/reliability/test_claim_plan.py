"""The claim query reads an index, never a whole table (EXPLAIN on SQLite and PostgreSQL).

The tables hold a few thousand items with a labeling-function vote each, some claims and
answers, and fresh statistics (``ANALYZE``), so the planner chooses as it would in use.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import SCHEMA, human_sources, make_users, taken_per_item

from labelloop.core.records import AnnotationRecord, ItemRecord, PendingAnnotation
from labelloop.core.schema import ProjectSettings
from labelloop.storage import Store
from labelloop.storage.queue import user_sources
from labelloop.storage.task_path import candidate_query

N_ITEMS = 3000
BIG = {"items", "annotations", "claim_queue"}


@pytest.fixture
def world(db_url: str, analyze_own_tables: Any) -> Iterator[tuple[Store, int, int, list[int]]]:
    store = Store(db_url)
    p = store.create_project("plan", SCHEMA, ProjectSettings(overlap=2))
    items = [ItemRecord(data={"text": f"plan item {i}"}) for i in range(N_ITEMS)]
    votes = [PendingAnnotation(content_hash=it.content_hash, kind="lf", name="lf1", label=i % 2)
             for i, it in enumerate(items)]
    ids = store.import_records(p.id, items, votes).item_ids
    store.set_priorities(p.id, {i: float(n % 7) for n, i in enumerate(ids[:500])})
    users = make_users(store, "planner", 3)
    src = human_sources(store, p.id, users)
    for u in users:
        claim = store.claim_next(p.id, u, overlap=2, minutes=5)
        assert claim is not None and claim.item_id in ids and claim.user_id == u
        assert store.submit_answer(p.id, u, AnnotationRecord(
            item_id=claim.item_id, source_id=src[u], label=0), overlap=2, minutes=5)
        store.claim_next(p.id, u, overlap=2, minutes=5)
    analyze_own_tables(store.engine)
    yield store, p.id, users[0], ids
    store.close()


def _sql(store: Store, query: Any) -> str:
    return str(query.compile(dialect=store.engine.dialect,
                             compile_kwargs={"literal_binds": True}))


def _sqlite_plan(store: Store, sql: str) -> list[str]:
    with store.engine.connect() as conn:
        return [str(r[3]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]


def _pg_nodes(store: Store, sql: str) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        plan = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {sql}").scalar()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    nodes, todo = [], [plan[0]["Plan"]]
    while todo:
        node = todo.pop()
        nodes.append(node)
        todo.extend(node.get("Plans", []))
    return nodes


@pytest.mark.parametrize(("gold", "hard"), [(False, False), (False, True), (True, False)])
def test_next_item_query_uses_the_claim_index(world: tuple[Store, int, int, list[int]],
                                              gold: bool, hard: bool) -> None:
    """Regular items for either routing flag (``hard``: an expert's items), honeypots."""
    store, pid, user, _ = world
    with store.snapshot() as s:
        sources = user_sources(s, pid, user)
    assert sources, "the user's answers must take part in the plan"
    sql = _sql(store, candidate_query(store.dialect, pid, user, gold=gold, hard=hard))
    if store.dialect == "sqlite":
        plan = _sqlite_plan(store, sql)
        scans = [d for d in plan if d.startswith("SCAN") and d.split()[1] in BIG | {"q"}]
        assert not scans, plan
        assert any("ix_claim_queue_next" in d for d in plan), plan
        if not gold:  # the index gives the order: no sort of the candidates
            assert not any("TEMP B-TREE FOR ORDER BY" in d for d in plan), plan
    else:
        nodes = _pg_nodes(store, sql)
        seq = [n["Relation Name"] for n in nodes
               if n["Node Type"] == "Seq Scan" and n.get("Relation Name") in BIG]
        assert not seq, nodes
        assert any(n.get("Index Name") == "ix_claim_queue_next" for n in nodes), nodes
        if not gold:
            assert not any(n["Node Type"] in ("Sort", "Incremental Sort") for n in nodes), nodes


def test_claims_follow_the_priority_order(world: tuple[Store, int, int, list[int]]) -> None:
    """What the index order serves is ``priority DESC NULLS LAST, id``."""
    store, pid, _, ids = world
    taken = taken_per_item(store, pid)
    fresh = make_users(store, "fresh", 3)
    got = [store.claim_next(pid, u, overlap=1, minutes=5) for u in fresh]
    # overlap 1 now: every item a planner touched is full; 6.0 is the top priority
    top = [i for n, i in enumerate(ids[:500]) if n % 7 == 6]
    assert len(top) > 10 and taken[top[0]] > 0
    assert [c.item_id for c in got if c is not None] == [i for i in top if not taken[i]][:3]
