"""What a restored node took back, when it rejoined, of its own change-sets that its lost
state had signed: each peer lets those through its fence (:mod:`sync.fence`), the rest of
that state stays void. A node restored at the same time as its peer takes some of them
back from a third node (the keeper's journal), after that peer has fenced them.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rejoin_kept",
        sa.Column("node", sa.String(length=16), nullable=False),
        sa.Column("changeset_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("node", "changeset_id"),
    )


def downgrade() -> None:
    op.drop_table("rejoin_kept")
