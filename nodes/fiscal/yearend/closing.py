"""Closing a year at the recipient (年终结转, the recipient's side): the signed balance
statement sent to each issuer, and the year closed here from then on.

A ``yearclose`` change-set carries one operation per appropriation of the year received
from its recipient (the issuer of the statement's channel)::

    {"op": "yearclose", "year": 2026, "id": "410000-2026-000012", "balance": 12345,
     "actor": "...", "at": "2026-12-31T08:00:00.000000Z"}

``balance`` is what was still available (指标余额) in fen when the year was closed; it may
be 0. A closed year takes nothing more here: no spending against its appropriations, no
breakdown from them, and from above nothing but the recovery of each stated balance.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nodes import rejoin
from nodes.fiscal.appropriations.balances import balances, counted, issued_events
from nodes.fiscal.appropriations.closed import KIND, lock_edge, lock_year
from nodes.fiscal.appropriations.operations import operation_at
from nodes.labels import named as enumerated
from nodes.labels import said
from schema.channels import outbox
from schema.engine import reading
from schema.locks import insert_missing, lock_rows
from schema.sums import total
from schema.tables import appropriation, appropriation_event, year_close, year_close_line
from schema.types import MAX_STORED_FEN, format_yuan, is_year, parse_utc
from sync.changeset import Verified
from sync.channel import enqueue
from sync.clock import SYSTEM_CLOCK, Clock
from sync.errors import InputError
from sync.pki import load_signer

if TYPE_CHECKING:
    from nodes.node import Node

__all__ = [
    "KIND",
    "Closed",
    "adopt_statement",
    "close",
    "closes",
    "in_flight",
    "standing",
    "statement_operations",
]

NAMED = 10
"""Ids named in a refusal (the rest counted)."""


@dataclass(frozen=True)
class Closed:
    """One statement: what ``recipient`` held of ``year`` from ``issuer``, in fen."""

    issuer: str
    recipient: str
    year: int
    state: str
    balance_fen: int
    appropriations: int
    closed_at: datetime
    closed_by: str
    mode: str | None = None
    doc: str | None = None
    accepted_at: datetime | None = None
    accepted_by: str | None = None


def named(ids: Collection[str]) -> str:
    """Ids for a message: the first few, and how many more."""
    ordered = sorted(ids)
    text = ", ".join(ordered[:NAMED])
    if len(ordered) > NAMED:
        return said("ids_and_more", ids=text, count=len(ordered) - NAMED)
    return text


def in_flight(conn: Connection, issuer: str, year: int, recipient: str | None = None) -> list[str]:
    """Appropriations of ``year`` that ``issuer`` issued (to ``recipient``) with a
    change-set whose receipt has not come back: what they stand at is not known yet. So
    too one of a later year broken down from one of ``year`` (a carry-over) with a
    decrease or a recovery on its way: what it gives back counts in ``year`` once its
    receipt comes."""
    parent = appropriation.alias("parent")
    query = (
        sa.select(appropriation.c.id)
        .distinct()
        .select_from(
            appropriation.join(appropriation_event)
            .join(outbox, outbox.c.id == appropriation_event.c.changeset_id)
            .outerjoin(parent, parent.c.id == appropriation.c.parent_id)
        )
        .where(
            appropriation.c.issuer == issuer,
            sa.or_(
                appropriation.c.year == year,
                (parent.c.year == year) & (appropriation_event.c.amount_fen < 0),
            ),
            outbox.c.receipt_verdict.is_(None),
        )
    )
    if recipient is not None:
        query = query.where(appropriation.c.recipient == recipient)
    return sorted(conn.execute(query).scalars())


def close(node: Node, year: int, *, actor: str, clock: Clock = SYSTEM_CLOCK) -> list[Closed]:
    """Close ``year`` here: send each issuer a signed statement of the balances of what
    it issued here that year, and take nothing more of that year from then on.

    All in one transaction, with the year, its edges and appropriations locked first (the
    product's lock order: the year, the close of each edge, then the rows), so that
    spending, a breakdown, an issue from here or an arriving appropriation either comes
    before the close and is in the statement, or after it and is refused. Refused when the year is closed here already,
    when something this node issued that year is still in flight (its receipt not back:
    run sync first), and while a node it issued that year's appropriations to has not
    closed with it (bottom up: the counties, then the city).
    """
    me = node.spec.code
    now = clock.now()
    with node.engine.begin() as conn:
        rejoin.require_joined(conn, me)
        lock_year(conn, me, year)
        held_from = sorted(
            conn.execute(
                sa.select(appropriation.c.issuer)
                .distinct()
                .where(appropriation.c.recipient == me, appropriation.c.year == year)
            ).scalars()
        )
        if not held_from:
            raise InputError(
                said("close_nothing", code=me, year=year),
                hint=said("close_nothing_hint", year=year),
            )
        for issuer in held_from:
            lock_edge(conn, issuer, me, year)
        done = conn.execute(
            sa.select(year_close).where(year_close.c.recipient == me, year_close.c.year == year)
        ).first()
        if done is not None:
            raise InputError(
                said("closed_already", year=year, issuer=done.issuer),
                hint=said("closed_already_hint"),
            )
        ids = list(
            conn.execute(
                sa.select(appropriation.c.id).where(
                    appropriation.c.recipient == me, appropriation.c.year == year
                )
            ).scalars()
        )
        rows = lock_rows(conn, appropriation.c.id, ids)
        # Read once what it reasons about is held: a breakdown or an acceptance that
        # committed while it waited is seen (in flight, or accepted).
        pending = in_flight(conn, me, year)
        if pending:
            raise InputError(
                said("close_in_flight", year=year, count=len(pending), ids=named(pending)),
                hint=said("close_in_flight_hint"),
            )
        below = set(
            conn.execute(
                sa.select(appropriation.c.recipient)
                .distinct()
                .where(appropriation.c.issuer == me, appropriation.c.year == year)
            ).scalars()
        )
        accepted = set(
            conn.execute(
                sa.select(year_close.c.recipient).where(
                    year_close.c.issuer == me,
                    year_close.c.year == year,
                    year_close.c.state == "accepted",
                )
            ).scalars()
        )
        if below - accepted:
            waiting = sorted(below - accepted)
            raise InputError(
                said("close_before_below", year=year, codes=", ".join(waiting)),
                hint=said("close_before_below_hint", year=year),
            )
        left = balances(conn, ids)
        signer = load_signer(node.home.keys)
        at = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        statements = []
        for issuer in held_from:
            mine = sorted((r for r in rows if r.issuer == issuer), key=lambda r: r.id)
            operations = [
                {
                    "op": KIND,
                    "year": year,
                    "id": r.id,
                    "balance": left.get(r.id, 0),
                    "actor": actor,
                    "at": at,
                }
                for r in mine
            ]
            written = enqueue(conn, node.spool, signer, issuer, KIND, operations, clock)
            statement = _record(conn, issuer, me, year, "sent", written.id, operations, now)
            statements.append(statement)
    return statements


def _record(
    conn: Connection,
    issuer: str,
    recipient: str,
    year: int,
    state: str,
    statement_id: str,
    operations: list[dict[str, Any]],
    closed_at: datetime,
) -> Closed:
    """Keep a statement and its lines; InputError when that edge's year has one, or when
    its total is more than a sum of money is stored as (:data:`MAX_STORED_FEN`)."""
    balance = sum(op["balance"] for op in operations)
    if balance > MAX_STORED_FEN:
        raise InputError(
            said(
                "ye_total_too_large",
                code=recipient,
                year=year,
                issuer=issuer,
                total=format_yuan(balance),
                largest=format_yuan(MAX_STORED_FEN),
            )
        )
    actor = operations[0]["actor"] if operations else ""
    fresh = insert_missing(
        conn,
        year_close,
        {
            "issuer": issuer,
            "recipient": recipient,
            "year": year,
            "state": state,
            "balance_fen": balance,
            "statement_id": statement_id,
            "closed_at": closed_at,
            "closed_by": actor,
        },
    )
    if not fresh:
        raise InputError(said("ye_closed_once", code=recipient, year=year, issuer=issuer))
    if operations:
        conn.execute(
            year_close_line.insert(),
            [
                {
                    "issuer": issuer,
                    "recipient": recipient,
                    "year": year,
                    "appropriation_id": op["id"],
                    "balance_fen": op["balance"],
                }
                for op in operations
            ],
        )
    return Closed(issuer, recipient, year, state, balance, len(operations), closed_at, actor)


def statement_operations(verified: Verified) -> tuple[int, list[dict[str, Any]], datetime]:
    """The year, operations and time of a statement, each checked; InputError if bad."""
    operations = list(verified.operations())
    if not operations:
        raise InputError(said("ye_statement_empty"))
    year = operations[0].get("year")
    if not is_year(year):
        raise InputError(said("ye_statement_year"))
    seen = set()
    for number, op in enumerate(operations, 1):
        if op.get("op") != KIND or op.get("year") != year:
            raise InputError(
                said(
                    "ye_statement_line",
                    where=operation_at(number),
                    kind=enumerated("kind", KIND),
                    year=year,
                )
            )
        if type(op.get("id")) is not str or op["id"] in seen:
            raise InputError(said("ye_statement_id", where=operation_at(number)))
        seen.add(op["id"])
        if type(op.get("balance")) is not int or op["balance"] < 0:
            raise InputError(said("ye_statement_balance", where=operation_at(number)))
        if type(op.get("actor")) is not str or type(op.get("at")) is not str:
            raise InputError(said("ye_statement_text", where=operation_at(number)))
    try:
        at = parse_utc(operations[0]["at"])
    except ValueError as exc:
        raise InputError(said("ye_statement_at", where=operation_at(1), error=str(exc))) from exc
    return year, operations, at


def adopt_statement(conn: Connection, verified: Verified) -> None:
    """A statement this node sent before it was restored: its year is closed again."""
    year, operations, at = statement_operations(verified)
    header = verified.header
    exists = conn.execute(
        sa.select(year_close.c.year).where(
            year_close.c.issuer == header.recipient,
            year_close.c.recipient == header.origin,
            year_close.c.year == year,
        )
    ).first()
    if exists is None:
        _record(conn, header.recipient, header.origin, year, "sent", verified.id, operations, at)


def closes(node: Node, year: int | None = None) -> list[Closed]:
    """Every statement held here (sent, or received from below), newest year first."""
    count = (
        sa.select(sa.func.count())
        .where(
            year_close_line.c.issuer == year_close.c.issuer,
            year_close_line.c.recipient == year_close.c.recipient,
            year_close_line.c.year == year_close.c.year,
        )
        .scalar_subquery()
    )
    query = sa.select(year_close, count.label("lines")).order_by(
        year_close.c.year.desc(), year_close.c.issuer, year_close.c.recipient
    )
    if year is not None:
        query = query.where(year_close.c.year == year)
    with reading(node.engine) as conn:
        found = conn.execute(query).all()
    return [
        Closed(
            r.issuer,
            r.recipient,
            r.year,
            r.state,
            int(r.balance_fen),
            int(r.lines),
            r.closed_at,
            r.closed_by,
            r.mode,
            r.doc_no,
            r.accepted_at,
            r.accepted_by,
        )
        for r in found
    ]


def standing(conn: Connection, ids: Collection[str]) -> dict[str, int]:
    """What stands of each appropriation in ``ids`` at its issuer: its events that count
    (not refused by the recipient; a decrease or recovery once accepted)."""
    rows = conn.execute(
        sa.select(appropriation.c.id, total(appropriation_event.c.amount_fen))
        .select_from(issued_events())
        .where(appropriation.c.id.in_(sorted(ids)), counted())
        .group_by(appropriation.c.id)
    )
    return {ident: int(amount) for ident, amount in rows}
