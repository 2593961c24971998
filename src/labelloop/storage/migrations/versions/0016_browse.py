"""Data browser: full-text search over item text, keyset indexes for its sort orders.

SQLite: an FTS5 table ``items_fts`` (rowid = item id) filled from the items stored, kept
up to date by the import (set-based, in its transaction) and by a delete trigger.
PostgreSQL: a GIN index on the ``tsvector`` of the item text (an expression index, kept by
PostgreSQL itself). Both tokenize without stemming (``simple``/``unicode61``).

Revision ID: 0016
Revises: 0011
"""

from alembic import op

revision = "0016"
down_revision = "0011"
branch_labels = None
depends_on = None

PG_SEARCH = "to_tsvector('simple', coalesce(data->>'text', ''))"


def upgrade() -> None:
    op.create_index("ix_items_project_priority_id", "items", ["project_id", "priority", "id"])
    op.create_index("ix_items_project_created", "items", ["project_id", "created_at", "id"])
    op.create_index("ix_item_stats_sure", "item_stats", ["project_id", "sure", "item_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE INDEX ix_items_search ON items USING gin ({PG_SEARCH})")
        return
    op.execute("CREATE VIRTUAL TABLE items_fts USING fts5(body,"
               " tokenize = 'unicode61 remove_diacritics 2')")
    op.execute("INSERT INTO items_fts (rowid, body) SELECT id, json_extract(data, '$.text')"
               " FROM items WHERE json_extract(data, '$.text') IS NOT NULL")
    op.execute("CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN"
               " DELETE FROM items_fts WHERE rowid = old.id; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_items_search")
    else:
        op.execute("DROP TRIGGER items_fts_delete")
        op.execute("DROP TABLE items_fts")
    op.drop_index("ix_item_stats_sure", "item_stats")
    op.drop_index("ix_items_project_created", "items")
    op.drop_index("ix_items_project_priority_id", "items")
