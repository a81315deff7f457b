"""Why a file was quarantined and why a change-set was refused here, kept by key (JSON)
beside their English text, so that they are shown in the reader's language: the detail of
a quarantine entry, the reason of a change-set taken and refused. Rows from before keep
their English text; the receipt sent to the origin keeps it too.

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("quarantine") as batch:
        batch.add_column(sa.Column("detail_said", sa.Text(), nullable=True))
    with op.batch_alter_table("changeset_log") as batch:
        batch.add_column(sa.Column("reason_said", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("changeset_log") as batch:
        batch.drop_column("reason_said")
    with op.batch_alter_table("quarantine") as batch:
        batch.drop_column("detail_said")
