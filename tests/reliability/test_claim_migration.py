"""Migration 0005 fills the claim queue of projects stored before it existed."""

from __future__ import annotations

from sqlalchemy import text

from labelloop.storage import Store

ROWS = """
INSERT INTO users (id, name, role, active, created_at) VALUES (1, 'ann', 'annotator', true, :t);
INSERT INTO projects (id, name, task, label_schema, settings, created_at)
  VALUES (1, 'old', 'text-classification', '{}', '{"overlap": 2}', :t);
INSERT INTO items (id, project_id, content_hash, data, meta, split, priority, created_at)
  VALUES (1, 1, 'h1', '{}', '{}', 'unassigned', NULL, :t),
         (2, 1, 'h2', '{}', '{}', 'unassigned', NULL, :t),
         (3, 1, 'h3', '{}', '{}', 'unassigned', 0.75, :t);
INSERT INTO sources (id, project_id, kind, name, version, user_id, created_at)
  VALUES (1, 1, 'human', 'ann', '', 1, :t), (2, 1, 'gold', 'ref', '', NULL, :t),
         (3, 1, 'lf', 'lf1', '', NULL, :t);
INSERT INTO annotations (id, item_id, source_id, label, value, needs_review, created_at)
  VALUES (1, 1, 1, 0, '{}', false, :t), (2, 2, 2, 1, '{}', false, :t),
         (3, 3, 3, 1, '{}', false, :t);
INSERT INTO assignments (id, project_id, item_id, user_id, claimed_at, expires_at, state)
  VALUES (1, 1, 3, 1, :t, :t, 'claimed');
INSERT INTO item_queue (item_id, extra_overlap) VALUES (1, 1);
"""


def test_migration_backfills_existing_projects(db_url: str) -> None:
    store = Store(db_url, migrate=False)
    store.migrate("0004")
    with store.engine.begin() as conn:
        for stmt in ROWS.split(";"):
            if stmt.strip():
                conn.execute(text(stmt), {"t": "2024-01-01 00:00:00"})
    store.migrate()
    with store.engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT item_id, gold, has_room, unranked, sort_key, taken, extra FROM claim_queue "
            "ORDER BY item_id")).all()
        overlap = conn.execute(text("SELECT overlap FROM claim_queue_projects")).scalar()
    assert overlap == 2
    assert [tuple(r) for r in rows] == [
        (1, False, True, True, 0.0, 1, 1),  # one answer, a send-back: room for two more
        (2, True, True, True, 0.0, 0, 0),  # gold
        (3, False, True, False, -0.75, 1, 0),  # one open claim, ranked by priority
    ]
    assert store.available_items(1, 999, overlap=2) == 2  # items 1 and 3 have room
    store.close()
