"""Loop rounds: one row per round of the closed loop (status, inputs, what changed).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "loop_rounds",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project_id", sa.Integer(),
                  sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("trigger", sa.String(40), nullable=False),
        sa.Column("rerun_of", sa.Integer(), nullable=True),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
    )
    op.create_index("ix_loop_rounds_project", "loop_rounds", ["project_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_loop_rounds_project", table_name="loop_rounds")
    op.drop_table("loop_rounds")
