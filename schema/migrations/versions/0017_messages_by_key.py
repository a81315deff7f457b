"""Messages kept by key (JSON), so that what a node found is shown in the reader's
language: the detail of a reconciliation finding, and the problem and action of a check's
finding. Rows from before keep their English text.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reconciliation_finding") as batch:
        batch.add_column(sa.Column("params", sa.Text(), nullable=True))
    with op.batch_alter_table("check_finding") as batch:
        batch.add_column(sa.Column("said", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("check_finding") as batch:
        batch.drop_column("said")
    with op.batch_alter_table("reconciliation_finding") as batch:
        batch.drop_column("params")
