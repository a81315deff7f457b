"""Change-sets for another node that wait at this one (a node it does not know yet, a
signer's certificate that begins after this node's clock): when this node first saw
each, by its own clock, and the verdict of checking it, kept by the file's hash so a
held file is not verified again every round (:mod:`sync.held`).

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "held_file",
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("recipient", sa.String(length=16), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("crl_number", sa.BigInteger(), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("verdict IN ('verified', 'early')", name=op.f("ck_held_file_verdict")),
        sa.PrimaryKeyConstraint("filename", name=op.f("pk_held_file")),
    )


def downgrade() -> None:
    op.drop_table("held_file")
