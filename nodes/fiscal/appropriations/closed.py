"""Which appropriations belong to a year closed here (已结转): a closed year takes no
more spending, no breakdown, and from above nothing but the recovery of each balance its
statement named (:mod:`nodes.fiscal.yearend`).

Whoever closes, accepts, or receives a year's appropriations on an edge first takes
:func:`lock_edge` for it, then reads: a close and what it must see never miss each other.
"""

from __future__ import annotations

from collections.abc import Collection

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from schema.locks import lock_scope
from schema.tables import appropriation, year_close, year_close_line

__all__ = [
    "CLOSED",
    "KIND",
    "accepted_here",
    "closed_ids",
    "closed_years",
    "lock_edge",
    "lock_year",
    "stated_balances",
]

KIND = "yearclose"
"""The kind of change-set of a year-end statement."""
CLOSED = ("sent", "accepted")
"""The states of a close at the recipient: its statement ``sent``, then its issuer's
acceptance taken here (``accepted``). Either way the year is closed here."""


def lock_year(conn: Connection, node: str, year: int) -> None:
    """Hold the year-end work of ``year`` at ``node`` until the transaction ends: its own
    close and its acceptance of the statements from below take it first (before any
    edge), so that neither reads what the other is in the middle of writing."""
    lock_scope(conn, KIND, f"{node}/{year}")


def lock_edge(conn: Connection, issuer: str, recipient: str, year: int) -> None:
    """Hold the close of ``year`` between ``issuer`` and ``recipient`` until the
    transaction ends: whoever closes, accepts or receives that year's appropriations
    takes it first, then reads."""
    lock_scope(conn, KIND, f"{issuer}/{recipient}/{year}")


def _close_of(table: sa.Table, states: tuple[str, ...]) -> sa.ColumnElement[bool]:
    """Join ``table`` (issuer, recipient, year) to its close, in one of ``states``."""
    return sa.and_(
        year_close.c.issuer == table.c.issuer,
        year_close.c.recipient == table.c.recipient,
        year_close.c.year == table.c.year,
        year_close.c.state.in_(states),
    )


def closed_ids(conn: Connection, ids: Collection[str]) -> dict[str, int]:
    """Of the appropriations ``ids`` received here, those of a year closed here, with it."""
    if not ids:
        return {}
    query = (
        sa.select(appropriation.c.id, appropriation.c.year)
        .select_from(appropriation.join(year_close, _close_of(appropriation, CLOSED)))
        .where(appropriation.c.id.in_(sorted(ids)))
    )
    return {ident: int(year) for ident, year in conn.execute(query)}


def stated_balances(conn: Connection, ids: Collection[str]) -> dict[str, int]:
    """Of the appropriations ``ids`` received here, those of a year closed here, with the
    balance its statement named: the one recovery it takes from above, once (the close
    is ``accepted`` here once it is taken, :func:`accepted_here`). Not the balance
    that stands now: restored from a backup older than a payment it recorded before the
    close, a node stands higher than it stated, and the issuer's acceptance (recovering
    what was stated) must be taken again as it was the first time."""
    if not ids:
        return {}
    query = (
        sa.select(year_close_line.c.appropriation_id, year_close_line.c.balance_fen)
        .select_from(year_close_line.join(year_close, _close_of(year_close_line, ("sent",))))
        .where(year_close_line.c.appropriation_id.in_(sorted(ids)))
    )
    return {ident: int(balance) for ident, balance in conn.execute(query)}


def accepted_here(conn: Connection, ids: Collection[str]) -> None:
    """The recoveries of the closed appropriations ``ids`` were taken here: their closes
    are ``accepted``, and no second recovery of a stated balance is taken."""
    if not ids:
        return
    pairs = conn.execute(
        sa.select(appropriation.c.issuer, appropriation.c.recipient, appropriation.c.year)
        .distinct()
        .where(appropriation.c.id.in_(sorted(ids)))
    ).all()
    for issuer, recipient, year in pairs:
        conn.execute(
            year_close.update()
            .where(
                year_close.c.issuer == issuer,
                year_close.c.recipient == recipient,
                year_close.c.year == year,
                year_close.c.state == "sent",
            )
            .values(state="accepted")
        )


def closed_years(
    conn: Connection, issuer: str, recipient: str, years: Collection[int]
) -> list[int]:
    """Of ``years``, those ``recipient`` closed with ``issuer`` (each edge locked first)."""
    for year in sorted(years):
        lock_edge(conn, issuer, recipient, year)
    if not years:
        return []
    return sorted(
        conn.execute(
            sa.select(year_close.c.year).where(
                year_close.c.issuer == issuer,
                year_close.c.recipient == recipient,
                year_close.c.year.in_(sorted(years)),
                year_close.c.state.in_(CLOSED),
            )
        ).scalars()
    )
