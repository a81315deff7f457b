"""A trace (资金追踪) of one appropriation down the chain, from what this node knows.

A node knows what it received (with the 上级文号 it was issued under), what it broke down
from it to the nodes below (and what their signed receipts acknowledge), what it spent
against it itself, and the information copies (抄送) of what was issued over its head.
Followed for 直达资金, whose flag every breakdown keeps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from nodes.fiscal.appropriations.balances import counted, issued_events
from nodes.fiscal.appropriations.copies import jurisdiction
from nodes.fiscal.appropriations.listings import Holding, holdings
from nodes.labels import said
from schema.engine import reading
from schema.sums import total
from schema.tables import appropriation, appropriation_event, ledger_entry
from sync.errors import InputError

if TYPE_CHECKING:
    from nodes.node import Node

__all__ = ["Step", "trace"]


@dataclass(frozen=True)
class Step:
    """One appropriation of a trace; ``depth`` 0 is the one traced from.

    ``role`` is how this node holds it: ``received``, ``issued`` (a breakdown or an issue
    from here) or ``copy`` (抄送, issued over this node's head). ``acknowledged_fen`` is
    what the recipient's signed receipts confirm (issued here only), ``spent_fen`` what
    this node spent against it and ``available_fen`` what is left here (received only).
    """

    depth: int
    role: str
    id: str
    issuer: str
    recipient: str
    doc_no: str
    upper_doc_no: str | None
    transfer_type: str
    direct: bool
    amount_fen: int
    acknowledged_fen: int | None
    spent_fen: int | None
    available_fen: int | None


def trace(node: Node, ident: str) -> list[Step]:
    """``appropriations trace``: the appropriation ``ident`` (or, for a breakdown made
    here, the received one it was taken from) and everything broken down from it here."""
    me = node.spec.code
    with reading(node.engine) as conn:
        row = conn.execute(sa.select(appropriation).where(appropriation.c.id == ident)).first()
        if row is not None and row.issuer == me and row.parent_id is not None:
            ident = row.parent_id
            row = conn.execute(sa.select(appropriation).where(appropriation.c.id == ident)).first()
        spent = dict(
            conn.execute(
                sa.select(ledger_entry.c.appropriation_id, total(ledger_entry.c.amount_fen))
                .where(ledger_entry.c.direction == "expenditure")
                .group_by(ledger_entry.c.appropriation_id)
            ).all()
        )
    if row is None:
        copy = next((s for s in jurisdiction(node) if s.copy and s.id == ident), None)
        if copy is None:
            raise InputError(
                said("no_appropriation_nor_copy", ident=ident),
                hint=said("no_appropriation_nor_copy_hint"),
            )
        return [
            Step(
                0,
                "copy",
                copy.id,
                copy.issuer,
                copy.recipient,
                copy.doc_no,
                None,
                copy.transfer_type,
                copy.direct,
                copy.amount_fen,
                None,
                None,
                None,
            )  # fmt: skip
        ]
    received = row.recipient == me
    (own,) = holdings(node, issued=not received, ident=ident)
    steps = [_step(0, "received" if received else "issued", own, spent, received)]
    if received:
        # Every breakdown, of any year (a carry-over 结转 is of the next), at what it takes
        # from this one as its balance counts it (a decrease once its receipt came):
        # with what was spent and what is left, they add up to what was received.
        with reading(node.engine) as conn:
            taken = dict(
                conn.execute(
                    sa.select(appropriation.c.id, total(appropriation_event.c.amount_fen))
                    .select_from(issued_events())
                    .where(appropriation.c.parent_id == ident, counted())
                    .group_by(appropriation.c.id)
                ).all()
            )
        steps.extend(
            _step(1, "issued", h, spent, False, int(taken.get(h.id, 0)))
            for h in holdings(node, issued=True, parent=ident)
        )
    return steps


def _step(
    depth: int,
    role: str,
    h: Holding,
    spent: dict[str, int],
    received: bool,
    amount_fen: int | None = None,
) -> Step:
    return Step(
        depth=depth,
        role=role,
        id=h.id,
        issuer=h.issuer,
        recipient=h.recipient,
        doc_no=h.doc_no,
        upper_doc_no=h.upper_doc_no,
        transfer_type=h.transfer_type,
        direct=h.direct,
        amount_fen=h.amount_fen if amount_fen is None else amount_fen,
        acknowledged_fen=None if received else h.acknowledged_fen,
        spent_fen=int(spent.get(h.id, 0)) if received else None,
        available_fen=h.available_fen if received else None,
    )
