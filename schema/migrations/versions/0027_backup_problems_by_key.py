"""What the last ``backup verify`` found wrong with a backup kept here, kept by key
(JSON) beside its English text, so that ``status`` shows it in the reader's language.
Rows from before keep their English text.

Revision ID: 0027
Revises: 0026
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("backup_catalogue") as batch:
        batch.add_column(sa.Column("problem_said", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("backup_catalogue") as batch:
        batch.drop_column("problem_said")
