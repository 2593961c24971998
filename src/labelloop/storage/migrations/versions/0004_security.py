"""Security: API token expiry and last use; explicit members-only projects and media roots.

A project that has members when this migration runs stays members-only.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # plain ADD/DROP COLUMN, never a batch copy: on SQLite copying ``projects`` would
    # cascade-delete the rows that point at it
    op.add_column("api_tokens", sa.Column("expires_at", TS, nullable=True))
    op.add_column("api_tokens", sa.Column("last_used_at", TS, nullable=True))
    op.add_column("projects", sa.Column("members_only", sa.Boolean(), nullable=False,
                                        server_default=sa.false()))
    op.add_column("projects", sa.Column("media_roots", sa.JSON(), nullable=False,
                                        server_default=sa.text("'[]'")))
    op.get_bind().execute(
        sa.text("UPDATE projects SET members_only = :yes "
                "WHERE id IN (SELECT project_id FROM project_members)"),
        {"yes": True},
    )


def downgrade() -> None:
    for table, column in (("projects", "media_roots"), ("projects", "members_only"),
                          ("api_tokens", "last_used_at"), ("api_tokens", "expires_at")):
        op.drop_column(table, column)
