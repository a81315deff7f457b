"""The 直达资金 report: every direct-fund appropriation (直达资金) this node holds, with
what was issued (下达), received (接收), allocated on to the level below (分配下级),
spent here (支出) and what is left (结余), in fen.

Each level runs it on its own data, so the report exists at every level: the province
sees what it issued; a city what it received, broke down to its counties and spent
itself; a county what it received and spent. The row of an appropriation received here
reads received = allocated + spent + balance; a row of one issued here from this
level's own budget (no appropriation above it) has its issued amount only, since what
happens to it below is the recipient's to report.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nodes.fiscal.appropriations.balances import counted, issued_events
from schema.engine import reading
from schema.sums import total
from schema.tables import appropriation, appropriation_event, ledger_entry

if TYPE_CHECKING:
    from nodes.node import Node

__all__ = ["DirectFund", "direct_funds", "iter_direct_funds"]


@dataclass(frozen=True)
class DirectFund:
    """One 直达资金 appropriation as this node sees it (amounts in fen)."""

    id: str
    year: int
    doc_no: str
    func_code: str
    issuer: str
    recipient: str
    issued_fen: int
    received_fen: int
    allocated_fen: int
    spent_fen: int

    @property
    def balance_fen(self) -> int:
        """结余: what is left here of what was received (0 for what was issued here)."""
        return self.received_fen - self.allocated_fen - self.spent_fen


def direct_funds(node: Node, year: int | None = None) -> list[DirectFund]:
    """``report direct``: the 直达资金 held here (received, or issued from this level
    with no appropriation above it), of ``year`` or every year, by id."""
    return list(iter_direct_funds(node, year))


STREAM_ROWS = 2_000
"""Appropriations fetched from the database at a time by :func:`iter_direct_funds`."""


def iter_direct_funds(node: Node, year: int | None = None) -> Iterator[DirectFund]:
    """:func:`direct_funds` one at a time, in bounded memory whatever their number: the
    appropriations are fetched a few thousand at a time (a server-side cursor on
    PostgreSQL) in one snapshot, and the sums of each such block read for it. The
    connection stays open until the iterator is exhausted or closed."""
    me = node.spec.code
    a = appropriation
    held = a.c.direct & ((a.c.recipient == me) | ((a.c.issuer == me) & a.c.parent_id.is_(None)))
    if year is not None:
        held = held & (a.c.year == year)
    query = sa.select(a).where(held).order_by(a.c.id)
    with reading(node.engine, snapshot=True) as conn:
        result = conn.execution_options(stream_results=True, yield_per=STREAM_ROWS).execute(query)
        for block in result.partitions():
            yield from _funds(conn, me, block)


def _funds(conn: Connection, me: str, rows: Sequence[Any]) -> Iterator[DirectFund]:
    a = appropriation
    ids = [r.id for r in rows]
    amounts = dict(
        conn.execute(
            sa.select(
                appropriation_event.c.appropriation_id, total(appropriation_event.c.amount_fen)
            )
            .where(appropriation_event.c.appropriation_id.in_(ids))
            .group_by(appropriation_event.c.appropriation_id)
        ).all()
    )
    allocated = dict(
        conn.execute(
            sa.select(a.c.parent_id, total(appropriation_event.c.amount_fen))
            .select_from(issued_events())
            .where(a.c.parent_id.in_(ids), counted())
            .group_by(a.c.parent_id)
        ).all()
    )
    spent = dict(
        conn.execute(
            sa.select(ledger_entry.c.appropriation_id, total(ledger_entry.c.amount_fen))
            .where(
                ledger_entry.c.appropriation_id.in_(ids),
                ledger_entry.c.direction == "expenditure",
            )
            .group_by(ledger_entry.c.appropriation_id)
        ).all()
    )
    for r in rows:
        amount = int(amounts.get(r.id, 0))
        received = r.recipient == me
        yield DirectFund(
            id=r.id,
            year=r.year,
            doc_no=r.doc_no,
            func_code=r.func_code,
            issuer=r.issuer,
            recipient=r.recipient,
            issued_fen=0 if received else amount,
            received_fen=amount if received else 0,
            allocated_fen=int(allocated.get(r.id, 0)) if received else 0,
            spent_fen=int(spent.get(r.id, 0)) if received else 0,
        )
