"""When the files of an acknowledged change-set, or of one taken, were purged.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "changeset_log", sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("changeset_log") as batch:
        batch.drop_column("purged_at")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("purged_at")
