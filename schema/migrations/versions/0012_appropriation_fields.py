"""指标类型, 指标来源 and 预算级次 of appropriations.

Appropriations from before are 年初预算 (annual), 上级补助 (upper) where they name an
upper document and 本级安排 (own) otherwise, of the budget level of their recipient's role
in the topology the node was set up with.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("appropriation") as batch:
        batch.add_column(
            sa.Column(
                "indicator_kind", sa.String(length=16), server_default="annual", nullable=False
            )
        )
        batch.add_column(
            sa.Column("fund_source", sa.String(length=16), server_default="own", nullable=False)
        )
        batch.add_column(sa.Column("budget_level", sa.String(length=16), nullable=True))
        batch.create_check_constraint(
            op.f("ck_appropriation_indicator_kind"),
            "indicator_kind IN ('annual', 'additional', 'advance')",
        )
        batch.create_check_constraint(
            op.f("ck_appropriation_fund_source"), "fund_source IN ('upper', 'own')"
        )
        batch.create_check_constraint(
            op.f("ck_appropriation_budget_level"),
            "budget_level IN ('central', 'province', 'city', 'county')",
        )
    op.execute("UPDATE appropriation SET fund_source = 'upper' WHERE upper_doc_no IS NOT NULL")
    op.execute(
        "UPDATE appropriation SET budget_level = (SELECT t.role FROM topology_node t "
        "WHERE t.code = appropriation.recipient AND t.role IN ('province', 'city', 'county'))"
    )


def downgrade() -> None:
    with op.batch_alter_table("appropriation") as batch:
        batch.drop_constraint(op.f("ck_appropriation_budget_level"), type_="check")
        batch.drop_constraint(op.f("ck_appropriation_fund_source"), type_="check")
        batch.drop_constraint(op.f("ck_appropriation_indicator_kind"), type_="check")
        batch.drop_column("budget_level")
        batch.drop_column("fund_source")
        batch.drop_column("indicator_kind")
