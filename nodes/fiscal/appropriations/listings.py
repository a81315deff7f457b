"""Appropriations as a node lists them, and one appropriation's whole history."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from nodes.fiscal.appropriations.balances import issued_events, taken
from nodes.fiscal.appropriations.operations import BUDGET_LEVELS, INDICATOR_KINDS, SOURCES
from nodes.labels import recalled, said
from schema.channels import changeset_log, outbox
from schema.engine import reading
from schema.sums import total
from schema.tables import appropriation, appropriation_event
from sync.errors import InputError

if TYPE_CHECKING:
    from nodes.node import Node

__all__ = [
    "Event",
    "History",
    "Holding",
    "Refusal",
    "history",
    "holdings",
    "iter_holdings",
    "refused",
]


@dataclass(frozen=True)
class Holding:
    """An appropriation as this node sees it.

    Issued here: ``amount_fen`` is what stands (refused change-sets left out),
    ``acknowledged_fen`` what the recipient's signed receipts confirm. Received here:
    both are the amount received, and ``available_fen`` is what is still available of it.
    """

    id: str
    year: int
    issuer: str
    recipient: str
    doc_no: str
    title: str
    func_code: str
    econ_code: str
    fund_code: str
    transfer_type: str
    parent_id: str | None
    amount_fen: int
    acknowledged_fen: int
    available_fen: int
    direct: bool = False
    upper_doc_no: str | None = None
    indicator_kind: str = "annual"
    fund_source: str = "own"
    budget_level: str | None = None

    @property
    def direct_label(self) -> str:
        """直达 for 直达资金, else empty."""
        return "直达" if self.direct else ""

    @property
    def indicator_label(self) -> str:
        """The 指标类型 in Chinese (年初预算, 追加, 提前下达)."""
        return INDICATOR_KINDS.get(self.indicator_kind, self.indicator_kind)

    @property
    def source_label(self) -> str:
        """The 指标来源 in Chinese (上级补助, 本级安排)."""
        return SOURCES.get(self.fund_source, self.fund_source)

    @property
    def level_label(self) -> str:
        """The 预算级次 in Chinese (省级, 市级, 县级), or empty."""
        return BUDGET_LEVELS.get(self.budget_level or "", "")


def holdings(
    node: Node,
    *,
    issued: bool,
    year: int | None = None,
    ident: str | None = None,
    parent: str | None = None,
) -> list[Holding]:
    """Appropriations issued by this node (``issued``) or received by it, with amounts
    (those :func:`iter_holdings` keeps)."""
    return list(iter_holdings(node, issued=issued, year=year, ident=ident, parent=parent))


STREAM_ROWS = 2_000
"""Rows fetched from the database at a time by :func:`iter_holdings`."""


def iter_holdings(
    node: Node,
    *,
    issued: bool,
    year: int | None = None,
    ident: str | None = None,
    parent: str | None = None,
) -> Iterator[Holding]:
    """:func:`holdings` one at a time, in id order, in bounded memory whatever their number:
    rows are fetched a few thousand at a time (a server-side cursor on PostgreSQL) and the
    balances of what was received are computed for each such block. The database
    connection stays open until the iterator is exhausted or closed. ``ident`` keeps only
    that appropriation, ``parent`` only what was broken down from that one (keyed look-ups,
    whatever the number of the year's)."""
    me = node.spec.code
    mine = (appropriation.c.issuer if issued else appropriation.c.recipient) == me
    if year is not None:
        mine = mine & (appropriation.c.year == year)
    if ident is not None:
        mine = mine & (appropriation.c.id == ident)
    if parent is not None:
        mine = mine & (appropriation.c.parent_id == parent)
    amount = appropriation_event.c.amount_fen
    if issued:
        standing = sa.or_(
            outbox.c.receipt_verdict.is_(None), outbox.c.receipt_verdict != "rejected"
        )
        sums = [
            total(sa.case((standing, amount), else_=0)),
            total(sa.case((outbox.c.receipt_verdict == "applied", amount), else_=0)),
        ]
        source: Any = issued_events()
    else:
        sums = [total(amount)]  # received: what was acknowledged is what was received
        source = appropriation.join(appropriation_event)
    labels = ("amount", "acknowledged")
    query = (
        sa.select(*_HELD, *(fen.label(label) for fen, label in zip(sums, labels, strict=False)))
        .select_from(source)
        .where(mine)
        .group_by(appropriation.c.id)  # the key: every other column is the key's
        .order_by(appropriation.c.id)
    )
    with reading(node.engine, snapshot=True) as conn:
        result = conn.execution_options(stream_results=True, yield_per=STREAM_ROWS).execute(query)
        for block in result.partitions():
            # what is available of what was received: its amount (summed just now) less
            # what was broken down from it and spent (:func:`balances`)
            less = {} if issued else taken(conn, _between(block[0].id, block[-1].id))
            for r in block:
                yield _holding(r, issued, less)


def _between(first: str, last: str) -> sa.Select[Any]:
    """The ids from ``first`` to ``last``: a block of :func:`iter_holdings` as a query, so
    that what was taken from each is read by joining, not through thousands of bound ids
    (every one of the block is among them; any other, not in the block, only adds a
    figure nobody reads). On the key alone: with the block's own filter beside it, SQLite
    reads through the recipient's index every holding of the node, block after block."""
    return sa.select(appropriation.c.id).where(appropriation.c.id.between(first, last))


_HELD = (
    appropriation.c.id,
    appropriation.c.year,
    appropriation.c.issuer,
    appropriation.c.recipient,
    appropriation.c.doc_no,
    appropriation.c.title,
    appropriation.c.func_code,
    appropriation.c.econ_code,
    appropriation.c.fund_code,
    appropriation.c.transfer_type,
    appropriation.c.parent_id,
    appropriation.c.direct,
    appropriation.c.upper_doc_no,
    appropriation.c.indicator_kind,
    appropriation.c.fund_source,
    appropriation.c.budget_level,
)
"""The columns of an appropriation a :class:`Holding` shows (not who made it and when)."""


def _holding(r: Any, issued: bool, less: dict[str, int]) -> Holding:
    # by position (the order of _HELD, then the sums): a row's attributes by name cost
    # more than the rest of the holding
    (ident, year, issuer, recipient, doc_no, title, func_code, econ_code, fund_code,
     transfer_type, parent_id, direct, upper_doc_no, indicator_kind, fund_source,
     budget_level, amount, *acknowledged) = r  # fmt: skip
    amount = int(amount)
    return Holding(
        ident,
        year,
        issuer,
        recipient,
        doc_no,
        title,
        func_code,
        econ_code,
        fund_code,
        transfer_type,
        parent_id,
        amount,
        int(acknowledged[0]) if issued else amount,
        amount - (0 if issued else less.get(ident, 0)),
        bool(direct),
        upper_doc_no,
        indicator_kind,
        fund_source,
        budget_level,
    )


@dataclass(frozen=True)
class Event:
    """One event of an appropriation's history, with the change-set that carried it."""

    seq: int
    kind: str
    amount_fen: int
    doc_no: str
    actor: str
    at: datetime
    changeset_id: str | None
    receipt_id: str | None
    verdict: str | None  # applied / rejected; None while no receipt is back
    reason: str | None


@dataclass(frozen=True)
class History:
    """An appropriation, every event of it, and what was broken down from it."""

    appropriation: Holding
    events: list[Event]
    breakdowns: list[Holding]
    issued_here: bool


def history(node: Node, ident: str) -> History:
    """``appropriations show``: the full history of one appropriation known here."""
    me = node.spec.code
    with reading(node.engine) as conn:
        row = conn.execute(sa.select(appropriation).where(appropriation.c.id == ident)).first()
        if row is None:
            raise InputError(
                said("no_appropriation", ident=ident),
                hint=said("no_appropriation_hint2"),
            )
        issued_here = row.issuer == me
        if issued_here:
            log_query = sa.select(
                appropriation_event,
                outbox.c.receipt_id,
                outbox.c.receipt_verdict.label("verdict"),
                outbox.c.receipt_reason.label("reason"),
                outbox.c.receipt_reason_said.label("reason_said"),
            ).select_from(
                appropriation_event.outerjoin(
                    outbox, outbox.c.id == appropriation_event.c.changeset_id
                )
            )
        else:
            log_query = sa.select(
                appropriation_event,
                changeset_log.c.receipt_id,
                changeset_log.c.verdict,
                changeset_log.c.reason,
                changeset_log.c.reason_said,
            ).select_from(
                appropriation_event.outerjoin(
                    changeset_log, changeset_log.c.id == appropriation_event.c.changeset_id
                )
            )
        events = [
            Event(
                seq=e.seq,
                kind=e.kind,
                amount_fen=int(e.amount_fen),
                doc_no=e.doc_no,
                actor=e.actor,
                at=e.at,
                changeset_id=e.changeset_id,
                receipt_id=e.receipt_id,
                verdict=e.verdict,
                reason=e.reason and recalled(e.reason, e.reason_said),
            )
            for e in conn.execute(
                log_query.where(appropriation_event.c.appropriation_id == ident).order_by(
                    appropriation_event.c.seq
                )
            )
        ]
    (own,) = holdings(node, issued=issued_here, year=row.year, ident=ident)
    children = holdings(node, issued=True, year=row.year, parent=ident)
    return History(own, events, children, issued_here)


@dataclass(frozen=True)
class Refusal:
    """A change-set of appropriations (or of their copies) that was refused: sent from
    here and refused by its recipient (``direction`` ``sent``), or refused here
    (``taken``), with the reason its negative receipt gives."""

    direction: str
    changeset_id: str
    kind: str
    origin: str
    recipient: str
    seq: int
    at: datetime
    reason: str


def refused(node: Node) -> list[Refusal]:
    """``appropriations --refused``: every refused change-set of appropriations, newest
    first, whichever side refused it."""
    me = node.spec.code
    kinds = ("appropriation", "copy")
    with reading(node.engine) as conn:
        sent = conn.execute(
            sa.select(outbox).where(
                outbox.c.kind.in_(kinds), outbox.c.receipt_verdict == "rejected"
            )
        ).all()
        taken = conn.execute(
            sa.select(changeset_log).where(
                changeset_log.c.kind.in_(kinds), changeset_log.c.verdict == "rejected"
            )
        ).all()
    found = [
        Refusal(
            "sent",
            r.id,
            r.kind,
            me,
            r.recipient,
            int(r.seq),
            r.receipt_taken_at or r.acked_at or r.created_at,
            recalled(r.receipt_reason or "", r.receipt_reason_said),
        )  # fmt: skip
        for r in sent
    ]
    found.extend(
        Refusal(
            "taken",
            r.id,
            r.kind,
            r.origin,
            r.recipient,
            int(r.seq),
            r.applied_at,
            recalled(r.reason or "", r.reason_said),
        )
        for r in taken
    )
    return sorted(found, key=lambda f: f.at, reverse=True)
