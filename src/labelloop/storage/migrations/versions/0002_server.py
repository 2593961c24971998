"""Server tables: sessions, review decisions, per-item extra overlap; at most one open
claim per (item, user).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column(
            "user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
    )
    op.create_table(
        "review_decisions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "project_id", sa.Integer(), sa.ForeignKey("projects.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "item_id", sa.Integer(), sa.ForeignKey("items.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "reviewer_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("decision", sa.String(20), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_review_decisions_item", "review_decisions", ["item_id"])
    op.create_table(
        "item_queue",
        sa.Column(
            "item_id", sa.Integer(), sa.ForeignKey("items.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("extra_overlap", sa.Integer(), nullable=False),
    )
    op.create_index(
        "uq_assignments_open_claim", "assignments", ["item_id", "user_id"], unique=True,
        sqlite_where=sa.text("state = 'claimed'"), postgresql_where=sa.text("state = 'claimed'"),
    )


def downgrade() -> None:
    op.drop_index("uq_assignments_open_claim", table_name="assignments")
    op.drop_index("ix_review_decisions_item", table_name="review_decisions")
    for table in ("item_queue", "review_decisions", "sessions"):
        op.drop_table(table)
