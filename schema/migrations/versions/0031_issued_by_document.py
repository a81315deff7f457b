"""Appropriations found by the 文号 their issuer gave them: the index of an issuer's
appropriations by year goes on to the document number, so that a batch being issued
looks up the 文号 it carries (is the same line issued already?) instead of reading every
appropriation its issuer issued that year, for each few thousand lines of the batch.

Revision ID: 0031
Revises: 0030
Create Date: 2026-11-28
"""

from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_appropriation_issuer_year_doc_no"), "appropriation", ["issuer", "year", "doc_no"]
    )
    op.drop_index(op.f("ix_appropriation_issuer_year"), table_name="appropriation")


def downgrade() -> None:
    op.create_index(op.f("ix_appropriation_issuer_year"), "appropriation", ["issuer", "year"])
    op.drop_index(op.f("ix_appropriation_issuer_year_doc_no"), table_name="appropriation")
