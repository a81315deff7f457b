"""Why a file keeps failing in the sync rounds and why a recipient refused a change-set
this node sent, kept by key (JSON) beside their English text, so that they are shown in
the reader's language: the error of a failure record, the reason a receipt gives (a
receipt says it by key beside its English text when its signer is of this version).
Rows from before, local failures said by no key (the operating system's) and receipts
signed by an earlier fiscalsync keep their English text.

Revision ID: 0026
Revises: 0025
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("file_attempt") as batch:
        batch.add_column(sa.Column("error_said", sa.Text(), nullable=True))
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("receipt_reason_said", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("receipt_reason_said")
    with op.batch_alter_table("file_attempt") as batch:
        batch.drop_column("error_said")
