"""Counters handed out under a row lock: appropriation numbers per issuer and year.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "counter",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("last", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("last >= 0", name=op.f("ck_counter_last")),
        sa.PrimaryKeyConstraint("name", "scope", name=op.f("pk_counter")),
    )
    # Appropriations issued before counters existed: continue after the highest number
    # each issuer gave in each year (ids are <issuer>-<year>-<number>, issued here only).
    conn = op.get_bind()
    identity = conn.execute(sa.text("SELECT code FROM node_identity")).scalar()
    if identity is None:
        return
    last: dict[str, int] = {}
    rows = conn.execute(
        sa.text("SELECT id FROM appropriation WHERE issuer = :me"), {"me": identity}
    )
    for (ident,) in rows:
        scope, _, number = str(ident).rpartition("-")
        if number.isdigit():
            last[scope] = max(last.get(scope, 0), int(number))
    if last:
        conn.execute(
            sa.text("INSERT INTO counter (name, scope, last) VALUES ('appropriation', :s, :n)"),
            [{"s": scope, "n": n} for scope, n in sorted(last.items())],
        )


def downgrade() -> None:
    op.drop_table("counter")
