"""Reports (旬报 / 月报): report headers, every version kept, and their lines.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("node_code", sa.String(length=16), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("negative_entries", sa.Boolean(), nullable=False),
        sa.Column("generated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("generated_by", sa.String(length=100), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("changeset_id", sa.String(length=64), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('monthly', 'tenday')", name=op.f("ck_report_kind")),
        sa.CheckConstraint(
            "state IN ('draft', 'submitted', 'received')", name=op.f("ck_report_state")
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_report_version")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report")),
        sa.UniqueConstraint(
            "node_code", "period", "version", name=op.f("uq_report_node_code_period_version")
        ),
    )
    op.create_index(op.f("ix_report_period"), "report", ["period"], unique=False)
    op.create_table(
        "report_line",
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("section", sa.String(length=16), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("budget_fen", sa.BigInteger(), nullable=False),
        sa.Column("period_fen", sa.BigInteger(), nullable=False),
        sa.Column("ytd_fen", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "section IN ('revenue', 'expenditure')", name=op.f("ck_report_line_section")
        ),
        sa.CheckConstraint("level BETWEEN 0 AND 3", name=op.f("ck_report_line_level")),
        sa.ForeignKeyConstraint(
            ["report_id"], ["report.id"], name=op.f("fk_report_line_report_id_report")
        ),
        sa.PrimaryKeyConstraint(
            "report_id", "section", "level", "code", name=op.f("pk_report_line")
        ),
    )


def downgrade() -> None:
    op.drop_table("report_line")
    op.drop_index(op.f("ix_report_period"), table_name="report")
    op.drop_table("report")
