"""A large import keeps the planner right when statistics are taken while it is open.

An ``ANALYZE`` from another session (autovacuum, or an admin's database-wide run) cannot
see an open import's rows and records ``items`` as empty. With that belief the planner
looked ids up through the ``(project_id, id)`` index from its start, and each
foreign-key check of the import's claim-queue rows became a full index scan (imports on
PostgreSQL grew quadratically). The import notices the stale belief and analyzes in its
own transaction, where its rows count.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
from sqlalchemy import create_engine, text

from labelloop.core.records import ItemRecord, PendingAnnotation
from labelloop.core.schema import LabelSchema
from labelloop.storage import Store

pytestmark = pytest.mark.postgres

BATCHES, PER_BATCH = 12, 50


def _believed_rows(store: Store) -> float:
    with store.engine.connect() as conn:
        return float(conn.execute(text(
            "SELECT reltuples FROM pg_class WHERE oid = CAST('items' AS regclass)")).scalar_one())


def test_statistics_taken_during_an_import_are_refreshed_inside_it(postgres_url: str) -> None:
    store = Store(postgres_url)
    pid = store.create_project("stats", LabelSchema.from_labels("text-classification",
                                                                ["a", "b"])).id
    elsewhere = create_engine(postgres_url)
    believed_during: list[float] = []

    def batches() -> Iterator[tuple[Sequence[ItemRecord], Sequence[PendingAnnotation]]]:
        for b in range(BATCHES):
            yield [ItemRecord(data={"text": f"batch {b} row {r}"}) for r in range(PER_BATCH)], []
            if b == 1:  # another session analyzes while the import is open
                with elsewhere.begin() as conn:
                    conn.execute(text("ANALYZE items"))
                believed_during.append(_believed_rows(store))

    try:
        result = store.import_batches(pid, batches())
        assert result.added == BATCHES * PER_BATCH
        assert believed_during == [0.0]  # the outside ANALYZE saw none of the import's rows
        # the import set it right before committing: the planner believes in its rows ...
        assert _believed_rows(store) >= result.added / 2
        with store.engine.connect() as conn:
            plan = "\n".join(conn.execute(text(
                "EXPLAIN SELECT 1 FROM ONLY items x WHERE id = 5 FOR KEY SHARE OF x")).scalars())
        # ... and a lookup by id (each foreign-key check) no longer walks the project index
        assert "ix_items_project_id" not in plan
    finally:
        elsewhere.dispose()
        store.close()


def test_a_large_import_into_never_analyzed_tables_leaves_statistics(postgres_url: str) -> None:
    """Where autovacuum is off (as on this machine) nothing else analyzes a new project's
    tables: without statistics the planner guessed a project's items at a few hundred and
    answered a common-word search of 100k items by computing every item's text vector
    (1 s) instead of reading the search index (18 ms)."""
    store = Store(postgres_url)
    pid = store.create_project("fresh", LabelSchema.from_labels("text-classification",
                                                                ["a", "b"])).id
    try:
        assert _believed_rows(store) < 0  # never analyzed
        small = store.import_batches(pid, iter([([ItemRecord(data={"text": "tiny"})], [])]))
        assert small.added == 1 and _believed_rows(store) < 0  # too few rows to bother
        rows = [ItemRecord(data={"text": f"song {i}" if i % 7 else f"other {i}"})
                for i in range(3000)]
        result = store.import_batches(pid, iter([(rows, [])]))
        assert result.added == 3000
        assert _believed_rows(store) >= 3000
        with store.engine.connect() as conn:
            plan = "\n".join(conn.execute(text(
                "EXPLAIN SELECT id FROM items WHERE project_id = :p AND to_tsvector('simple', "
                "coalesce(data->>'text', '')) @@ to_tsquery('simple', 'other')"),
                {"p": pid}).scalars())
        assert "ix_items_search" in plan, plan
    finally:
        store.close()
