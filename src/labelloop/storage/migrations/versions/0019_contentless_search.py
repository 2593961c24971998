"""Fewer bytes per imported item: a contentless search index (SQLite), one index less.

The FTS5 table of migration 0016 stored every item's text again beside its index, and
the size of each row: about a fifth of a text project's database, written again by every
import. The index alone answers every search (matches are read by rowid), so the table
becomes contentless (``content=''``, ``columnsize=0``). Such a table cannot delete a row
by its rowid alone: the delete trigger hands it the text it indexed, read from the
deleted item. PostgreSQL keeps its expression index.

``ix_items_project_priority`` (project, priority) goes on both databases: every query it
served is served by ``ix_items_project_priority_id`` (project, priority, id) of 0016,
and each item written paid for both.

Revision ID: 0019
Revises: 0018
"""

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_TEXT = "json_extract({row}data, '$.text')"
_FILL = (
    f"INSERT INTO items_fts (rowid, body) SELECT id, {_TEXT.format(row='')} FROM items"
    f" WHERE {_TEXT.format(row='')} IS NOT NULL"
)
_TOKENIZE = "tokenize = 'unicode61 remove_diacritics 2'"


def _rebuild(options: str, trigger: str) -> None:
    op.execute("DROP TRIGGER items_fts_delete")
    op.execute("DROP TABLE items_fts")
    op.execute(f"CREATE VIRTUAL TABLE items_fts USING fts5(body{options}, {_TOKENIZE})")
    op.execute(_FILL)
    op.execute(trigger)


def upgrade() -> None:
    op.drop_index("ix_items_project_priority", table_name="items")
    if op.get_bind().dialect.name == "postgresql":
        return
    old = _TEXT.format(row="old.")
    _rebuild(
        ", content='', columnsize=0",
        f"CREATE TRIGGER items_fts_delete AFTER DELETE ON items WHEN {old} IS NOT NULL"
        f" BEGIN INSERT INTO items_fts (items_fts, rowid, body)"
        f" VALUES ('delete', old.id, {old}); END",
    )


def downgrade() -> None:
    op.create_index("ix_items_project_priority", "items", ["project_id", "priority"])
    if op.get_bind().dialect.name == "postgresql":
        return
    _rebuild(
        "",
        "CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN"
        " DELETE FROM items_fts WHERE rowid = old.id; END",
    )
