"""LLM answers cache and LLM runs (requests, tokens and cost per run).

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "llm_answers",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("answer", sa.JSON(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "llm_runs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project_id", sa.Integer(),
                  sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=False),
        *(sa.Column(c, sa.Integer(), nullable=False) for c in (
            "requests", "cached", "unsent", "errors", "prompt_tokens", "completion_tokens")),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("budget_stop", sa.String(200), nullable=True),
    )
    op.create_index("ix_llm_runs_project", "llm_runs", ["project_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_llm_runs_project", table_name="llm_runs")
    op.drop_table("llm_runs")
    op.drop_table("llm_answers")
