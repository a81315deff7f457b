"""Adjusting an appropriation issued here: 调增 (increase), 调减 (decrease), 收回
(recover), at the issuer. The appropriation, and the one it was broken down from, are
locked before they are checked; the event and the signed change-set (with its 抄送
copies) are written in one transaction."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from nodes.fiscal.appropriations import copies
from nodes.fiscal.appropriations.balances import available, issued_events
from nodes.fiscal.appropriations.closed import closed_ids, lock_edge
from nodes.fiscal.appropriations.operations import EVENT_SIGN, FIELD_LENGTH
from nodes.fiscal.documents import EXAMPLE as DOCUMENT_EXAMPLE
from nodes.fiscal.documents import Documents
from nodes.fiscal.reconcile import records
from nodes.labels import said
from schema.channels import outbox
from schema.locks import lock_rows
from schema.sums import total
from schema.tables import appropriation, appropriation_event, year_close
from schema.types import MAX_AMOUNT_FEN, format_yuan
from sync.channel import enqueue
from sync.clock import SYSTEM_CLOCK, Clock
from sync.errors import InputError
from sync.pki import load_signer

if TYPE_CHECKING:
    from nodes.node import Node

__all__ = ["change"]


def change(
    node: Node,
    ident: str,
    kind: str,
    amount_fen: int,
    doc: str,
    *,
    actor: str,
    clock: Clock = SYSTEM_CLOCK,
) -> int:
    """Increase (调增), decrease (调减) or recover (收回) an appropriation issued here.

    Recorded as a new event and sent to the recipient as a signed change-set, in one
    transaction; returns the event's number. An increase of a breakdown takes from the
    received appropriation's balance; a decrease or recovery may not exceed what was
    issued, and the recipient refuses it (negative receipt, and the event never counts)
    when less than that is still available down there. The appropriation (and, for an
    increase of a breakdown, the one it was taken from) is locked before it is checked.
    """
    if kind not in ("increase", "decrease", "recover"):
        raise InputError(said("change_unknown", kind=kind))
    if amount_fen <= 0:
        raise InputError(said("amount_not_positive"), hint=said("amount_not_positive_hint"))
    if amount_fen > MAX_AMOUNT_FEN:
        raise InputError(
            said(
                "amount_over_line",
                amount=format_yuan(amount_fen),
                largest=format_yuan(MAX_AMOUNT_FEN),
            )
        )
    if not doc.strip():
        raise InputError(said("doc_missing"), hint=said("doc_missing_hint"))
    if len(doc) > FIELD_LENGTH["doc"]:
        raise InputError(said("doc_too_long", doc=FIELD_LENGTH["doc"]))
    me = node.spec.code
    if problem := Documents(node.topology).problem(doc, me):
        raise InputError(problem, hint=said("doc_example_hint", example=DOCUMENT_EXAMPLE))
    signer = load_signer(node.home.keys)
    with node.engine.begin() as conn:
        row = conn.execute(sa.select(appropriation).where(appropriation.c.id == ident)).first()
        if row is not None:  # its edge's close, then it and its parent (never changes)
            lock_edge(conn, row.issuer, row.recipient, row.year)
            stated = conn.execute(
                sa.select(year_close.c.state).where(
                    year_close.c.issuer == row.issuer,
                    year_close.c.recipient == row.recipient,
                    year_close.c.year == row.year,
                )
            ).first()
            if stated is not None and row.issuer == me and stated.state == "accepted":
                raise InputError(
                    said("change_closed_accepted", code=row.recipient, year=row.year, ident=ident)
                )
            if stated is not None and row.issuer == me:
                raise InputError(
                    said("change_closed_stated", code=row.recipient, year=row.year, ident=ident),
                    hint=said("change_closed_stated_hint", year=row.year, code=row.recipient),
                )
            locked = [ident] if row.parent_id is None else [ident, row.parent_id]
            row = next(r for r in lock_rows(conn, appropriation.c.id, locked) if r.id == ident)
        if row is None:
            raise InputError(
                said("no_appropriation", ident=ident),
                hint=said("no_appropriation_hint"),
            )
        if row.issuer != me:
            raise InputError(
                said("not_issuer", ident=ident, issuer=row.issuer, kind=kind),
                hint=said("not_issuer_hint"),
            )
        standing = conn.execute(
            sa.select(total(appropriation_event.c.amount_fen))
            .select_from(issued_events())
            .where(
                appropriation.c.id == ident,
                sa.or_(outbox.c.receipt_verdict.is_(None), outbox.c.receipt_verdict != "rejected"),
            )
        ).scalar_one()
        if kind == "increase" and standing + amount_fen > MAX_AMOUNT_FEN:
            raise InputError(
                said(
                    "increase_over_largest",
                    ident=ident,
                    amount=format_yuan(amount_fen),
                    largest=format_yuan(MAX_AMOUNT_FEN),
                )
            )
        if row.parent_id is not None and row.parent_id in closed_ids(conn, [row.parent_id]):
            # Nothing is taken from a closed year, nor given back to it: what a decrease
            # or a recovery returns would stay there for good (no spending, breakdown or
            # statement takes anything from it any more).
            key = "parent_year_closed" if kind == "increase" else "parent_year_closed_back"
            raise InputError(said(key, parent_id=row.parent_id, ident=ident))
        if kind == "increase" and row.parent_id is not None:
            left = available(conn, row.parent_id)
            if amount_fen > left:
                raise InputError(
                    said(
                        "increase_exceeds_available",
                        ident=ident,
                        amount=format_yuan(amount_fen),
                        parent_id=row.parent_id,
                        left=format_yuan(left),
                    ),
                    hint=said("increase_exceeds_available_hint"),
                )
        if kind != "increase" and amount_fen > standing:
            raise InputError(
                said(
                    "change_exceeds_standing",
                    kind=kind,
                    amount=format_yuan(amount_fen),
                    ident=ident,
                    standing=format_yuan(standing),
                ),
                hint=said("change_exceeds_standing_hint"),
            )
        now = clock.now()
        operation = {
            "op": kind,
            "id": ident,
            "amount": amount_fen,
            "doc": doc,
            "actor": actor,
            "at": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
        written = None
        # A node in between that holds no copy (moved in since) opens it as issuing would.
        opened = {**operation, "opening": copies.opening(row, standing)} if standing else operation
        for recipient, sent, to in copies.sends(node.topology, me, [row.recipient]):
            operations = [operation] if sent != copies.KIND else copies.copied([opened], to)
            done = enqueue(conn, node.spool, signer, recipient, sent, operations, clock)
            written = done if sent != copies.KIND else written
        assert written is not None
        seq = (
            int(
                conn.execute(
                    sa.select(sa.func.max(appropriation_event.c.seq)).where(
                        appropriation_event.c.appropriation_id == ident
                    )
                ).scalar_one()
            )
            + 1
        )
        before = records.view(conn, records.ISSUER, [ident])
        conn.execute(
            appropriation_event.insert().values(
                appropriation_id=ident,
                seq=seq,
                kind=kind,
                amount_fen=EVENT_SIGN[kind] * amount_fen,
                doc_no=doc,
                actor=actor,
                at=now,
                changeset_id=written.id,
            )
        )
        after = records.view(conn, records.ISSUER, [ident])
        records.refresh(conn, records.scope(me, row.recipient), before, after)
    return seq
