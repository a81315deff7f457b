"""Backups kept for other nodes, restores, and rejoining after a restore.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "backup_catalogue",
        sa.Column("manifest_id", sa.String(length=64), nullable=False),
        sa.Column("node", sa.String(length=16), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("prev", sa.String(length=64), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("objects", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.Column("pruned_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("manifest_id", name=op.f("pk_backup_catalogue")),
        sa.UniqueConstraint("node", "number", name=op.f("uq_backup_catalogue_node_number")),
    )
    op.create_index(
        op.f("ix_backup_catalogue_node_taken_at"), "backup_catalogue", ["node", "taken_at"]
    )
    op.create_table(
        "restore_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("manifest_id", sa.String(length=64), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("restored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rejoined_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_restore_log")),
    )
    op.create_table(
        "rejoin_peer",
        sa.Column("peer", sa.String(length=16), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answer_file", sa.String(length=200), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("peer", name=op.f("pk_rejoin_peer")),
    )
    op.create_table(
        "rejoin_fence",
        sa.Column("node", sa.String(length=16), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("void_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("out_seq", sa.BigInteger(), nullable=False),
        sa.Column("in_seq", sa.BigInteger(), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("node", name=op.f("pk_rejoin_fence")),
    )


def downgrade() -> None:
    op.drop_table("rejoin_fence")
    op.drop_table("rejoin_peer")
    op.drop_table("restore_log")
    op.drop_index(op.f("ix_backup_catalogue_node_taken_at"), table_name="backup_catalogue")
    op.drop_table("backup_catalogue")
