"""The topology file a node follows, held in its database: the file in the home is
written from it after each commit that changes it, and put back from it when a crash
left the file ahead of or behind it (:func:`nodes.membership.follow`).

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "topology_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("toml", sa.Text(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_topology_file_one")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_topology_file")),
    )


def downgrade() -> None:
    op.drop_table("topology_file")
