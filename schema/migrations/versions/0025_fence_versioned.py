"""Whether a peer's fence of a restored node came from a request that says its version
(``"version": 2``): that node reads the fence an answer names and asks again naming it,
so a request of another epoch takes the fence's place only by naming it, whatever its own
version. A request without one (signed before the upgrade, held in a relay, or replayed)
no longer voids the live restore by its date.

Fences from before have none, and keep the rule by time.

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rejoin_fence") as batch:
        batch.add_column(sa.Column("versioned", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rejoin_fence") as batch:
        batch.drop_column("versioned")
