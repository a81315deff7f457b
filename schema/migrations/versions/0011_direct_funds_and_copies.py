"""直达资金 and 共同财政事权 on appropriations; information copies (抄送) of appropriations
issued from above straight to a node below.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("appropriation") as batch:
        batch.add_column(
            sa.Column("direct", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.drop_constraint(op.f("ck_appropriation_transfer_type"), type_="check")
        batch.create_check_constraint(
            op.f("ck_appropriation_transfer_type"),
            "transfer_type IN ('general', 'special', 'shared')",
        )
    op.create_table(
        "appropriation_copy",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("issuer", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.String(length=16), nullable=False),
        sa.Column("doc_no", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("func_code", sa.String(length=16), nullable=False),
        sa.Column("econ_code", sa.String(length=16), nullable=False),
        sa.Column("fund_code", sa.String(length=16), nullable=False),
        sa.Column("transfer_type", sa.String(length=16), nullable=False),
        sa.Column("direct", sa.Boolean(), nullable=False),
        sa.Column("project_code", sa.String(length=64), nullable=True),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appropriation_copy")),
    )
    op.create_index(
        op.f("ix_appropriation_copy_recipient_year"), "appropriation_copy", ["recipient", "year"]
    )
    op.create_table(
        "appropriation_copy_event",
        sa.Column("appropriation_id", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("doc_no", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changeset_id", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "kind IN ('issue', 'increase', 'decrease', 'recover')",
            name=op.f("ck_appropriation_copy_event_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["appropriation_id"],
            ["appropriation_copy.id"],
            name=op.f("fk_appropriation_copy_event_appropriation_id_appropriation_copy"),
        ),
        sa.PrimaryKeyConstraint(
            "appropriation_id", "seq", name=op.f("pk_appropriation_copy_event")
        ),
    )


def downgrade() -> None:
    op.drop_table("appropriation_copy_event")
    op.drop_index(op.f("ix_appropriation_copy_recipient_year"), table_name="appropriation_copy")
    op.drop_table("appropriation_copy")
    with op.batch_alter_table("appropriation") as batch:
        batch.drop_constraint(op.f("ck_appropriation_transfer_type"), type_="check")
        batch.create_check_constraint(
            op.f("ck_appropriation_transfer_type"), "transfer_type IN ('general', 'special')"
        )
        batch.drop_column("direct")
