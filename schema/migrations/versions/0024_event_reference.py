"""On PostgreSQL, an appropriation event's reference to its appropriation is no longer a
foreign key: its per-row trigger was nearly half the time of a large apply's COPY, and
every writer checks the reference itself (``schema.tables.appropriation_event``). SQLite
keeps its foreign key, which costs little there.

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-27
"""

from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

_NAME = "fk_appropriation_event_appropriation_id_appropriation"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(_NAME, "appropriation_event", type_="foreignkey")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_foreign_key(
            _NAME, "appropriation_event", "appropriation", ["appropriation_id"], ["id"]
        )
