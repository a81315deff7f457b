"""Reconciliations and their findings; each appropriation's reconciliation leaf, and the
events of a change-set found by its id.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

import zlib

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

LEAVES = 65536


def _leaf(ident: str) -> int:
    # As sync.merkle.leaf_of places a record, written out here: a migration is frozen.
    return zlib.crc32(ident.encode()) % LEAVES


def upgrade() -> None:
    # Added NOT NULL with a default and filled in place: SQLite cannot rebuild a table
    # that others reference while its foreign keys are enforced.
    op.add_column(
        "appropriation",
        sa.Column("leaf", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    conn = op.get_bind()
    ids = [row[0] for row in conn.execute(sa.text("SELECT id FROM appropriation"))]
    for start in range(0, len(ids), 5000):
        conn.execute(
            sa.text("UPDATE appropriation SET leaf = :leaf WHERE id = :id"),
            [{"leaf": _leaf(ident), "id": ident} for ident in ids[start : start + 5000]],
        )
    if conn.dialect.name == "postgresql":  # every writer gives the leaf: no default
        op.alter_column("appropriation", "leaf", server_default=None)
    op.create_index(
        op.f("ix_appropriation_event_changeset_id"), "appropriation_event", ["changeset_id"]
    )
    op.create_index(
        op.f("ix_appropriation_issuer_recipient_leaf"),
        "appropriation",
        ["issuer", "recipient", "leaf"],
    )
    op.create_table(
        "reconciliation",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("dataset", sa.String(length=16), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.String(length=16), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("cut", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("agree", sa.Boolean(), nullable=True),
        sa.Column("discrepancies", sa.Integer(), nullable=False),
        sa.Column("in_transit", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("concluded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("statement_changeset", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "dataset IN ('appropriation', 'report')", name=op.f("ck_reconciliation_dataset")
        ),
        sa.CheckConstraint("role IN ('initiator', 'peer')", name=op.f("ck_reconciliation_role")),
        sa.CheckConstraint(
            "state IN ('requested', 'answered', 'comparing', 'concluded', 'failed')",
            name=op.f("ck_reconciliation_state"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation")),
    )
    op.create_index(
        op.f("ix_reconciliation_origin_recipient"), "reconciliation", ["origin", "recipient"]
    )
    op.create_table(
        "reconciliation_finding",
        sa.Column("reconciliation_id", sa.String(length=40), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("field", sa.String(length=32), nullable=True),
        sa.Column("ours", sa.Text(), nullable=True),
        sa.Column("theirs", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("discrepancy", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["reconciliation_id"],
            ["reconciliation.id"],
            name=op.f("fk_reconciliation_finding_reconciliation_id_reconciliation"),
        ),
        sa.PrimaryKeyConstraint(
            "reconciliation_id", "number", name=op.f("pk_reconciliation_finding")
        ),
    )


def downgrade() -> None:
    op.drop_table("reconciliation_finding")
    op.drop_index(op.f("ix_reconciliation_origin_recipient"), table_name="reconciliation")
    op.drop_table("reconciliation")
    op.drop_index(op.f("ix_appropriation_issuer_recipient_leaf"), table_name="appropriation")
    op.drop_index(op.f("ix_appropriation_event_changeset_id"), table_name="appropriation_event")
    op.drop_column("appropriation", "leaf")  # SQLite 3.35 and later drop a column in place
