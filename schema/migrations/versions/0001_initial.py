"""Initial schema: node identity, topology, code sets, appropriations, ledger, sync tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "appropriation",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("issuer", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.String(length=16), nullable=False),
        sa.Column("doc_no", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("upper_doc_no", sa.String(length=100), nullable=True),
        sa.Column("parent_id", sa.String(length=40), nullable=True),
        sa.Column("func_code", sa.String(length=16), nullable=False),
        sa.Column("econ_code", sa.String(length=16), nullable=False),
        sa.Column("fund_code", sa.String(length=16), nullable=False),
        sa.Column("transfer_type", sa.String(length=16), nullable=False),
        sa.Column("project_code", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.CheckConstraint(
            "transfer_type IN ('general', 'special')", name=op.f("ck_appropriation_transfer_type")
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["appropriation.id"],
            name=op.f("fk_appropriation_parent_id_appropriation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appropriation")),
    )
    op.create_index(
        op.f("ix_appropriation_issuer_year"), "appropriation", ["issuer", "year"], unique=False
    )
    op.create_index(
        op.f("ix_appropriation_parent_id"), "appropriation", ["parent_id"], unique=False
    )
    op.create_index(
        op.f("ix_appropriation_recipient_year"),
        "appropriation",
        ["recipient", "year"],
        unique=False,
    )
    op.create_table(
        "changeset_log",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("prev", sa.String(length=64), nullable=False),
        sa.Column("op_count", sa.BigInteger(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("receipt_id", sa.String(length=64), nullable=False),
        sa.Column("receipt_file", sa.String(length=200), nullable=False),
        sa.Column("receipt_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "verdict IN ('applied', 'rejected')", name=op.f("ck_changeset_log_verdict")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_changeset_log")),
        sa.UniqueConstraint(
            "origin", "recipient", "seq", name=op.f("uq_changeset_log_origin_recipient_seq")
        ),
    )
    op.create_index(
        op.f("ix_changeset_log_receipt_sent_at"), "changeset_log", ["receipt_sent_at"], unique=False
    )
    op.create_table(
        "channel_head",
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.String(length=16), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("last_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("origin", "recipient", name=op.f("pk_channel_head")),
    )
    op.create_table(
        "code_item",
        sa.Column("codeset", sa.String(length=16), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("parent_code", sa.String(length=16), nullable=True),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("is_extension", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("codeset", "year", "code", name=op.f("pk_code_item")),
    )
    op.create_table(
        "node_identity",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("parent_code", sa.String(length=16), nullable=True),
        sa.Column("topology_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "role IN ('province', 'city', 'county', 'center')", name=op.f("ck_node_identity_role")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_node_identity")),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("recipient", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("receipt_id", sa.String(length=64), nullable=True),
        sa.Column("receipt_file", sa.String(length=200), nullable=True),
        sa.Column("receipt_verdict", sa.String(length=16), nullable=True),
        sa.Column("receipt_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("recipient", "seq", name=op.f("uq_outbox_recipient_seq")),
    )
    op.create_index(
        op.f("ix_outbox_acked_at_next_attempt_at"),
        "outbox",
        ["acked_at", "next_attempt_at"],
        unique=False,
    )
    op.create_table(
        "quarantine",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("changeset_id", sa.String(length=64), nullable=True),
        sa.Column("origin", sa.String(length=16), nullable=True),
        sa.Column("recipient", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dropped_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantine")),
    )
    op.create_table(
        "topology_node",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("parent_code", sa.String(length=16), nullable=True),
        sa.Column("endpoint", sa.String(length=500), nullable=True),
        sa.Column("host_key", sa.String(length=1000), nullable=True),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_topology_node")),
    )
    op.create_table(
        "appropriation_event",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("appropriation_id", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("doc_no", sa.String(length=100), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changeset_id", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "kind IN ('issue', 'increase', 'decrease', 'recover')",
            name=op.f("ck_appropriation_event_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["appropriation_id"],
            ["appropriation.id"],
            name=op.f("fk_appropriation_event_appropriation_id_appropriation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appropriation_event")),
        sa.UniqueConstraint(
            "appropriation_id", "seq", name=op.f("uq_appropriation_event_appropriation_id_seq")
        ),
    )
    op.create_table(
        "ledger_entry",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("entry_date", sa.Date(), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("func_code", sa.String(length=16), nullable=False),
        sa.Column("econ_code", sa.String(length=16), nullable=True),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("appropriation_id", sa.String(length=40), nullable=True),
        sa.Column("memo", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.CheckConstraint(
            "direction IN ('expenditure', 'revenue')", name=op.f("ck_ledger_entry_direction")
        ),
        sa.ForeignKeyConstraint(
            ["appropriation_id"],
            ["appropriation.id"],
            name=op.f("fk_ledger_entry_appropriation_id_appropriation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entry")),
    )
    op.create_index(
        op.f("ix_ledger_entry_entry_date"), "ledger_entry", ["entry_date"], unique=False
    )


def downgrade() -> None:

    op.drop_index(op.f("ix_ledger_entry_entry_date"), table_name="ledger_entry")
    op.drop_table("ledger_entry")
    op.drop_table("appropriation_event")
    op.drop_table("topology_node")
    op.drop_table("quarantine")
    op.drop_index(op.f("ix_outbox_acked_at_next_attempt_at"), table_name="outbox")
    op.drop_table("outbox")
    op.drop_table("node_identity")
    op.drop_table("code_item")
    op.drop_table("channel_head")
    op.drop_index(op.f("ix_changeset_log_receipt_sent_at"), table_name="changeset_log")
    op.drop_table("changeset_log")
    op.drop_index(op.f("ix_appropriation_recipient_year"), table_name="appropriation")
    op.drop_index(op.f("ix_appropriation_parent_id"), table_name="appropriation")
    op.drop_index(op.f("ix_appropriation_issuer_year"), table_name="appropriation")
    op.drop_table("appropriation")
