"""Year-end close (结转): the recipients' balance statements and what became of them,
and the 指标类型 结转 (carryover) of an appropriation that carries a balance over.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("appropriation") as batch:
        batch.drop_constraint(op.f("ck_appropriation_indicator_kind"), type_="check")
        batch.create_check_constraint(
            op.f("ck_appropriation_indicator_kind"),
            "indicator_kind IN ('annual', 'additional', 'advance', 'carryover')",
        )
    op.create_table(
        "year_close",
        sa.Column("issuer", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.String(length=16), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("balance_fen", sa.BigInteger(), nullable=False),
        sa.Column("statement_id", sa.String(length=64), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_by", sa.String(length=100), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=True),
        sa.Column("doc_no", sa.String(length=100), nullable=True),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted_by", sa.String(length=100), nullable=True),
        sa.CheckConstraint(
            "state IN ('sent', 'stated', 'accepted')", name=op.f("ck_year_close_state")
        ),
        sa.CheckConstraint("mode IN ('carry', 'recover')", name=op.f("ck_year_close_mode")),
        sa.PrimaryKeyConstraint("issuer", "recipient", "year", name=op.f("pk_year_close")),
    )
    op.create_table(
        "year_close_line",
        sa.Column("issuer", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.String(length=16), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("appropriation_id", sa.String(length=40), nullable=False),
        sa.Column("balance_fen", sa.BigInteger(), nullable=False),
        sa.Column("carried_to", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["issuer", "recipient", "year"],
            ["year_close.issuer", "year_close.recipient", "year_close.year"],
            name=op.f("fk_year_close_line_issuer_year_close"),
        ),
        sa.PrimaryKeyConstraint(
            "issuer", "recipient", "year", "appropriation_id", name=op.f("pk_year_close_line")
        ),
    )


def downgrade() -> None:
    op.drop_table("year_close_line")
    op.drop_table("year_close")
    with op.batch_alter_table("appropriation") as batch:
        batch.drop_constraint(op.f("ck_appropriation_indicator_kind"), type_="check")
        batch.create_check_constraint(
            op.f("ck_appropriation_indicator_kind"),
            "indicator_kind IN ('annual', 'additional', 'advance')",
        )
