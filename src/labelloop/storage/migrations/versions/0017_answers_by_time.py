"""Annotations by source and time: an annotator's answers of today are one index range.

Revision ID: 0017
Revises: 0016
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_annotations_source_created", "annotations", ["source_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_annotations_source_created", table_name="annotations")
