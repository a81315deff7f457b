"""Report lines gain the month to date (本月累计) and the same period last year (上年同期);
a node's own budget lines (本级预算) are kept for its reports' budget column; consolidated
reports sent level by level (逐级全辖) have their own tables.

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

    op.create_table(
        "region_report",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("node_code", sa.String(length=16), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("members", sa.Text(), nullable=False),
        sa.Column("generated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("generated_by", sa.String(length=100), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("changeset_id", sa.String(length=64), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('monthly', 'tenday')", name=op.f("ck_region_report_kind")),
        sa.CheckConstraint(
            "state IN ('submitted', 'received')", name=op.f("ck_region_report_state")
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_region_report_version")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_region_report")),
        sa.UniqueConstraint(
            "node_code",
            "period",
            "version",
            name=op.f("uq_region_report_node_code_period_version"),
        ),
    )
    op.create_table(
        "region_report_line",
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("section", sa.String(length=16), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("budget_fen", sa.BigInteger(), nullable=False),
        sa.Column("period_fen", sa.BigInteger(), nullable=False),
        sa.Column("ytd_fen", sa.BigInteger(), nullable=False),
        sa.Column("month_fen", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("last_year_fen", sa.BigInteger(), server_default="0", nullable=False),
        sa.CheckConstraint(
            "section IN ('revenue', 'expenditure')", name=op.f("ck_region_report_line_section")
        ),
        sa.CheckConstraint("level BETWEEN 0 AND 3", name=op.f("ck_region_report_line_level")),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["region_report.id"],
            name=op.f("fk_region_report_line_report_id_region_report"),
        ),
        sa.PrimaryKeyConstraint(
            "report_id", "section", "level", "code", name=op.f("pk_region_report_line")
        ),
    )


def downgrade() -> None:
    op.drop_table("region_report_line")
    op.drop_table("region_report")
    op.drop_table("budget_line")
    with op.batch_alter_table("report_line") as batch:
        batch.drop_column("last_year_fen")
        batch.drop_column("month_fen")
