"""The change-set that carried an issuer's acceptance of a year-end statement: its
negative receipt sets the statement back to ``stated`` (to be accepted again), and an
issuer restored from a backup older than the acceptance takes it back from it.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("year_close") as batch:
        batch.add_column(sa.Column("accepted_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("year_close") as batch:
        batch.drop_column("accepted_id")
