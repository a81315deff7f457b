"""Sync rounds that never stop: failed-file attempts, relay log, quarantine by content.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "file_attempt",
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("first_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("parked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "stage IN ('take', 'relay', 'send', 'receipt', 'fetch')",
            name=op.f("ck_file_attempt_stage"),
        ),
        sa.PrimaryKeyConstraint("stage", "name", name=op.f("pk_file_attempt")),
    )
    op.create_table(
        "relay_log",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=True),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("times", sa.Integer(), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relay_log")),
    )
    op.create_index(op.f("ix_relay_log_last_at"), "relay_log", ["last_at"], unique=False)
    with op.batch_alter_table("quarantine") as batch:
        batch.add_column(sa.Column("sha256", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("seen_count", sa.Integer(), server_default="1", nullable=False))
        batch.add_column(sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True))
    # Entries from before: seen once, when received (their content hash is not known).
    op.execute("UPDATE quarantine SET last_seen_at = received_at")
    with op.batch_alter_table("quarantine") as batch:
        batch.alter_column("last_seen_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch.create_unique_constraint(op.f("uq_quarantine_sha256"), ["sha256"])
        batch.create_check_constraint(op.f("ck_quarantine_seen_count"), "seen_count >= 1")


def downgrade() -> None:
    with op.batch_alter_table("quarantine") as batch:
        batch.drop_constraint(op.f("ck_quarantine_seen_count"), type_="check")
        batch.drop_constraint(op.f("uq_quarantine_sha256"), type_="unique")
        batch.drop_column("last_seen_at")
        batch.drop_column("seen_count")
        batch.drop_column("sha256")
    op.drop_index(op.f("ix_relay_log_last_at"), table_name="relay_log")
    op.drop_table("relay_log")
    op.drop_table("file_attempt")
