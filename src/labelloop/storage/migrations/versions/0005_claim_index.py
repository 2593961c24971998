"""Claim queue: per-item counts behind one index, so a claim does not scan the project.

Adds ``claim_queue`` (one row per item: taken, send-backs, gold, has room, priority order),
``claim_queue_projects`` (the overlap the flags were computed with) and an index of
assignments by project, state and expiry; fills them for the projects already stored.

Revision ID: 0005
Revises: 0004
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_BACKFILL = (
    "INSERT INTO claim_queue (item_id, project_id, gold, has_room, unranked, sort_key, taken,"
    " extra) SELECT id, project_id, false, true, priority IS NULL, coalesce(-priority, 0), 0, 0"
    " FROM items",
    "UPDATE claim_queue SET"
    " taken = (SELECT count(*) FROM annotations a JOIN sources s ON s.id = a.source_id"
    "          WHERE a.item_id = claim_queue.item_id AND s.kind = 'human')"
    "       + (SELECT count(*) FROM assignments c"
    "          WHERE c.item_id = claim_queue.item_id AND c.state = 'claimed'),"
    " extra = coalesce((SELECT q.extra_overlap FROM item_queue q"
    "                   WHERE q.item_id = claim_queue.item_id), 0),"
    " gold = EXISTS (SELECT 1 FROM annotations a JOIN sources s ON s.id = a.source_id"
    "                WHERE a.item_id = claim_queue.item_id AND s.kind = 'gold')",
    "UPDATE claim_queue SET has_room = taken < extra + coalesce((SELECT p.overlap"
    " FROM claim_queue_projects p WHERE p.project_id = claim_queue.project_id), 1)",
)


def upgrade() -> None:
    op.create_table(
        "claim_queue",
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("items.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("project_id", sa.Integer(),
                  sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
        sa.Column("gold", sa.Boolean(), nullable=False),
        sa.Column("has_room", sa.Boolean(), nullable=False),
        sa.Column("unranked", sa.Boolean(), nullable=False),
        sa.Column("sort_key", sa.Float(), nullable=False),
        sa.Column("taken", sa.Integer(), nullable=False),
        sa.Column("extra", sa.Integer(), nullable=False),
    )
    op.create_index("ix_claim_queue_next", "claim_queue",
                    ["project_id", "gold", "has_room", "unranked", "sort_key", "item_id"])
    op.create_table(
        "claim_queue_projects",
        sa.Column("project_id", sa.Integer(),
                  sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("overlap", sa.Integer(), nullable=False),
    )
    op.create_index("ix_assignments_project_state_expiry", "assignments",
                    ["project_id", "state", "expires_at"])
    conn = op.get_bind()
    projects = sa.table("projects", sa.column("id", sa.Integer), sa.column("settings", sa.JSON))
    for pid, settings in conn.execute(sa.select(projects.c.id, projects.c.settings)).all():
        if isinstance(settings, str):
            settings = json.loads(settings)
        overlap = int((settings or {}).get("overlap", 1))
        conn.execute(sa.text("INSERT INTO claim_queue_projects (project_id, overlap) "
                             "VALUES (:p, :o)"), {"p": pid, "o": overlap})
    for stmt in _BACKFILL:
        conn.execute(sa.text(stmt))


def downgrade() -> None:
    op.drop_index("ix_assignments_project_state_expiry", table_name="assignments")
    op.drop_table("claim_queue_projects")
    op.drop_index("ix_claim_queue_next", table_name="claim_queue")
    op.drop_table("claim_queue")
