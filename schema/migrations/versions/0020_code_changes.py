"""Changed codes (科目变动对照): a code of one year that is another code in the next,
shipped with the next year's code set or imported beside it, taken by a carry-over.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "code_change",
        sa.Column("codeset", sa.String(length=16), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("old_code", sa.String(length=16), nullable=False),
        sa.Column("new_code", sa.String(length=16), nullable=False),
        sa.Column("is_extension", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("codeset", "year", "old_code", name=op.f("pk_code_change")),
    )


def downgrade() -> None:
    op.drop_table("code_change")
