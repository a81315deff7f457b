"""Report lines gain the month to date (本月累计) and the same period last year (上年同期);
a node's own budget lines (本级预算) are kept for its reports' budget column.

Lines of reports from before get their month to date from what they knew: the period
itself for monthly reports and first ten days, where the two are the same; for the
middle and last ten days, which did not carry it, the period alone too (the figure
was not recorded). Their same period last year is 0 (not recorded).

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("report_line") as batch:
        batch.add_column(
            sa.Column("month_fen", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch.add_column(
            sa.Column("last_year_fen", sa.BigInteger(), server_default="0", nullable=False)
        )
    op.execute("UPDATE report_line SET month_fen = period_fen")
    op.create_table(
        "budget_line",
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("section", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("imported_by", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.CheckConstraint(
            "section IN ('revenue', 'expenditure')", name=op.f("ck_budget_line_section")
        ),
        sa.PrimaryKeyConstraint("year", "section", "code", name=op.f("pk_budget_line")),
    )


def downgrade() -> None:
    op.drop_table("budget_line")
    with op.batch_alter_table("report_line") as batch:
        batch.drop_column("last_year_fen")
        batch.drop_column("month_fen")
