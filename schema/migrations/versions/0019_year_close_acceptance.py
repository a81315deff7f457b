"""The change-set that carried an issuer's acceptance of a year-end statement: its
negative receipt sets the statement back to ``stated`` (to be accepted again), and an
issuer restored from a backup older than the acceptance takes it back from it.

An acceptance written before this revision has its change-set found again: the one that
carried the recoveries (收回) of the close's appropriations under its 文号. One its
recipient refused already is undone as a refusal is now: the statement is ``stated``
again, nothing carried over (the refused change-set's events count for nothing anyway).

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("year_close") as batch:
        batch.add_column(sa.Column("accepted_id", sa.String(length=64), nullable=True))
    conn = op.get_bind()
    me = conn.execute(sa.text("SELECT code FROM node_identity")).scalar()
    if me is None:
        return
    accepted = conn.execute(
        sa.text(
            "SELECT recipient, year, doc_no FROM year_close "
            "WHERE issuer = :me AND state = 'accepted' AND doc_no IS NOT NULL"
        ),
        {"me": me},
    ).all()
    of_close = "issuer = :me AND recipient = :recipient AND year = :year"
    for recipient, year, doc in accepted:
        close = {"me": me, "recipient": recipient, "year": year}
        found = conn.execute(
            sa.text(
                "SELECT o.id, o.receipt_verdict FROM outbox o WHERE o.recipient = :recipient "
                "AND o.id IN (SELECT e.changeset_id FROM appropriation_event e "
                "JOIN year_close_line l ON l.appropriation_id = e.appropriation_id "
                "WHERE l.issuer = :me AND l.recipient = :recipient AND l.year = :year "
                "AND e.kind = 'recover' AND e.doc_no = :doc) ORDER BY o.seq DESC"
            ),
            {**close, "doc": doc},
        ).first()
        if found is None:  # nothing was left to recover: no change-set carried it
            continue
        if found.receipt_verdict != "rejected":
            conn.execute(
                sa.text(f"UPDATE year_close SET accepted_id = :id WHERE {of_close}"),
                {**close, "id": found.id},
            )
            continue
        conn.execute(
            sa.text(
                "UPDATE year_close SET state = 'stated', mode = NULL, doc_no = NULL, "
                f"accepted_at = NULL, accepted_by = NULL, accepted_id = NULL WHERE {of_close}"
            ),
            close,
        )
        conn.execute(
            sa.text(f"UPDATE year_close_line SET carried_to = NULL WHERE {of_close}"), close
        )


def downgrade() -> None:
    with op.batch_alter_table("year_close") as batch:
        batch.drop_column("accepted_id")
