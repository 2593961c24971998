"""Bulk vote writes skip the per-row summary triggers: the ``bulk_writes`` guard table.

A transaction that writes many votes at once (an import, labeling-function votes, a label
model's posterior, pre-label drafts) inserts a row into ``bulk_writes`` first, writes, brings
``item_stats`` and ``source_stats`` up to date for what it wrote in a few set-based
statements, and deletes its row before it commits (see
:mod:`labelloop.storage.item_stats`). No other transaction ever sees the row. On SQLite the
row triggers of 0008 get ``WHEN NOT EXISTS (SELECT 1 FROM bulk_writes)``, so they do no work
inside such a transaction; every other write (a submit, a review) keeps them. On PostgreSQL
the triggers of 0008 are statement triggers, already set-based, and stay as they are.

The SQLite triggers are recreated from their own stored text with the condition added, so
their bodies stay exactly those of 0008.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_EVENTS = ("insert", "update", "delete")
_HEAD = " ON annotations BEGIN"
_GUARDED = " ON annotations WHEN NOT EXISTS (SELECT 1 FROM bulk_writes) BEGIN"


def _rewrite(old: str, new: str) -> None:
    """Recreate each SQLite summary trigger with ``old`` in its text replaced by ``new``."""
    bind = op.get_bind()
    for event in _EVENTS:
        name = f"item_stats_{event}"
        sql = bind.execute(sa.text("SELECT sql FROM sqlite_master WHERE type = 'trigger'"
                                   " AND name = :name"), {"name": name}).scalar()
        if sql is None or old not in sql:
            raise RuntimeError(f"trigger {name} is not the one migration 0008 created")
        op.execute(f"DROP TRIGGER {name}")
        op.execute(sql.replace(old, new, 1))


def upgrade() -> None:
    op.create_table("bulk_writes", sa.Column("id", sa.Integer(), primary_key=True))
    if op.get_bind().dialect.name == "sqlite":
        _rewrite(_HEAD, _GUARDED)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rewrite(_GUARDED, _HEAD)
    op.drop_table("bulk_writes")
