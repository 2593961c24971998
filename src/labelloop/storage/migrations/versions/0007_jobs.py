"""Jobs: chunked jobs that have not finished, and which of their chunks are stored.

``jobs`` holds one row per unfinished job of a project (kind, a key naming what it computes,
its number of chunks); ``job_chunks`` one row per chunk whose results are stored, so running
the same job again skips them. A job's rows go when it finishes.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project_id", sa.Integer(),
                  sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("n_chunks", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("project_id", "key", name="uq_jobs_project_key"),
    )
    op.create_table(
        "job_chunks",
        sa.Column("job_id", sa.Integer(), sa.ForeignKey("jobs.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("chunk", sa.Integer(), primary_key=True),
        sa.Column("n_items", sa.Integer(), nullable=False),
        sa.Column("finished_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("job_chunks")
    op.drop_table("jobs")
