"""A restored node's epoch: named in its rejoin requests and in the header of everything
it signs after them, recorded by each peer in the fence it keeps, so that what the node
signed before it was lost is void there however far ahead its clock ran.

Restores and fences from before have none, and keep the rule by time.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("restore_log", "rejoin_fence"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("epoch", sa.String(length=32), nullable=True))


def downgrade() -> None:
    for table in ("restore_log", "rejoin_fence"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("epoch")
