"""A fence whose epoch this node no longer knows: restored from a backup, it holds the
fences of its peers' restores as they stood then, and a peer restored since runs in
another epoch. Set by the restore; the peer's answer to its rejoin request names the epoch
it runs in now, and the fence takes it (:func:`sync.fence.learn`).

Fences from before know theirs, or are judged by time: none is unknown.

Revision ID: 0030
Revises: 0029
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rejoin_fence") as batch:
        batch.add_column(sa.Column("epoch_unknown", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rejoin_fence") as batch:
        batch.drop_column("epoch_unknown")
