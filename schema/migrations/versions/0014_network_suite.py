"""The node's identity names its network's signature suite (``ed25519`` or ``sm2``):
the hash of the suite is the hash of the reconciliation digests kept in its database.

Nodes from before are recorded ``ed25519``; a node whose installed root is of another
suite is recorded so, and its digests recomputed, by ``db upgrade`` right after.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("node_identity") as batch:
        batch.add_column(
            sa.Column("suite", sa.String(length=16), server_default="ed25519", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("node_identity") as batch:
        batch.drop_column("suite")
