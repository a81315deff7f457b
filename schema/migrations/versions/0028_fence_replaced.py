"""The epochs of a restored node whose fence, at a peer, a request of another epoch took
the place of by naming it (``replaces``). Only the live node names a fence: when one of
those epochs names a fence again, two machines live as one node and would take the fence
back and forth; the peer keeps it and says so.

Fences from before have none: the first replaced by name after the upgrade starts them.

Revision ID: 0028
Revises: 0027
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rejoin_fence") as batch:
        batch.add_column(sa.Column("replaced", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rejoin_fence") as batch:
        batch.drop_column("replaced")
