"""Comments on items, read per item by ``ix_item_comments_item``; review requests (items
the data browser sent to review), keyed and walked by ``(project_id, item_id)``; indexes
by item on the review requests and the failures, which deleting items looks up.

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "item_comments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "project_id",
            sa.Integer(),
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "item_id", sa.Integer(), sa.ForeignKey("items.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "author_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "reply_to", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_item_comments_item", "item_comments", ["item_id", "id"])
    op.create_table(
        "review_requests",
        sa.Column(
            "project_id",
            sa.Integer(),
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "item_id", sa.Integer(), sa.ForeignKey("items.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column(
            "requested_by",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    # the foreign-key checks of deleting items look these up per item
    op.create_index("ix_review_requests_item", "review_requests", ["item_id"])
    op.create_index("ix_failures_item", "failures", ["item_id"])


def downgrade() -> None:
    op.drop_index("ix_failures_item", table_name="failures")
    op.drop_index("ix_review_requests_item", table_name="review_requests")
    op.drop_table("review_requests")
    op.drop_index("ix_item_comments_item", table_name="item_comments")
    op.drop_table("item_comments")
