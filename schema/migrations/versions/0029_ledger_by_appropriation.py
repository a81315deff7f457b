"""Ledger entries found by the appropriation they spend (``ledger_entry.appropriation_id``):
what is still available of an appropriation reads its spending by key, not by reading
the whole ledger.

Revision ID: 0029
Revises: 0028
Create Date: 2026-11-27
"""

from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_ledger_entry_appropriation_id"), "ledger_entry", ["appropriation_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_ledger_entry_appropriation_id"), table_name="ledger_entry")
