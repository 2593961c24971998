"""Routing by difficulty: a ``hard`` flag on each queue row, inside the claim index.

The loop marks the items it routes to experts; the claim walks the index for one value of
the flag (experts: hard first), so routing costs no scan.

Revision ID: 0022
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0020"
branch_labels = None
depends_on = None

_OLD = ["project_id", "gold", "has_room", "unranked", "sort_key", "item_id"]
_NEW = ["project_id", "gold", "has_room", "hard", "unranked", "sort_key", "item_id"]


def upgrade() -> None:
    op.add_column("claim_queue", sa.Column("hard", sa.Boolean(), nullable=False,
                                           server_default=sa.false()))
    op.drop_index("ix_claim_queue_next", table_name="claim_queue")
    op.create_index("ix_claim_queue_next", "claim_queue", _NEW)


def downgrade() -> None:
    op.drop_index("ix_claim_queue_next", table_name="claim_queue")
    op.create_index("ix_claim_queue_next", "claim_queue", _OLD)
    with op.batch_alter_table("claim_queue") as batch:
        batch.drop_column("hard")
