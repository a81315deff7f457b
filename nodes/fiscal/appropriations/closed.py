"""Which appropriations belong to a year closed here (已结转): a closed year takes no
more spending, no breakdown, and from above nothing but the recovery of each balance its
statement named (:mod:`nodes.fiscal.yearend`).

Lock order of the year-end work, the same everywhere: the year at the node
(:func:`lock_year`), then the edges (:func:`lock_edge`), then the appropriation rows.
Whoever closes, accepts, receives, issues or changes a year's appropriations takes what
of it it reasons about in that order, then reads: a close and what it must see never
miss each other, and no two of them wait on each other in a cycle.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nodes.labels import said
from schema.locks import lock_scope
from schema.tables import appropriation, year_close, year_close_line
from sync.errors import InputError

__all__ = [
    "CLOSED",
    "KIND",
    "MARK",
    "accepted_here",
    "closed_here",
    "closed_ids",
    "lock_edge",
    "lock_edges_of",
    "lock_year",
    "of_close",
    "require_open",
    "stated_balances",
]

KIND = "yearclose"
"""The kind of change-set of a year-end statement."""
MARK = "close"
"""The key of an acceptance's recovery (``"close": year``): the one recovery a closed
year takes from above, told apart from a 收回 an operator sent by hand."""
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


def of_close(table: sa.Table, issuer: str, recipient: str, year: int) -> sa.ColumnElement[bool]:
    """The rows of ``table`` (``year_close`` or ``year_close_line``) of one close."""
    return sa.and_(table.c.issuer == issuer, table.c.recipient == recipient, table.c.year == year)


def _edges_of(conn: Connection, ids: Collection[str]) -> list[Any]:
    """(year, issuer, recipient) of the appropriations ``ids``, in that order."""
    columns = (appropriation.c.year, appropriation.c.issuer, appropriation.c.recipient)
    query = sa.select(*columns).distinct().where(appropriation.c.id.in_(sorted(ids)))
    return list(conn.execute(query.order_by(*columns)).all())


def accepted_here(conn: Connection, ids: Collection[str]) -> None:
    """The recoveries of the closed appropriations ``ids`` were taken here: their closes
    are ``accepted``, and no second recovery of a stated balance is taken."""
    for year, issuer, recipient in _edges_of(conn, ids) if ids else []:
        conn.execute(
            year_close.update()
            .where(of_close(year_close, issuer, recipient, year), year_close.c.state == "sent")
            .values(state="accepted")
        )


def lock_edges_of(
    conn: Connection, ids: Collection[str], *, also: Collection[int] = (), at: str = ""
) -> None:
    """Before the rows ``ids`` are locked: the year at their recipient, then their
    edges, for each year of them (ascending), in the year-end lock order. ``also``:
    years of the node ``at`` held with theirs, all ascending (a change-set received
    takes the years of the rows it issues with those of the rows it changes, before
    any row: else it would hold a row of one year and wait for a later year, which
    another holds while it waits for that row)."""
    pairs = _edges_of(conn, ids) if ids else []
    years = {(year, recipient) for year, _issuer, recipient in pairs}
    for year, recipient in sorted(years | {(year, at) for year in also}):
        lock_year(conn, recipient, year)
    for year, issuer, recipient in pairs:
        lock_edge(conn, issuer, recipient, year)


def closed_here(conn: Connection, node: str, years: Collection[int]) -> list[int]:
    """Of ``years``, those ``node`` closed, with any issuer (each year locked first: a
    close under way is waited for). A closed year takes no new appropriation from
    anyone, not only from the issuers its statements went to."""
    for year in sorted(years):
        lock_year(conn, node, year)
    if not years:
        return []
    return sorted(
        conn.execute(
            sa.select(year_close.c.year)
            .distinct()
            .where(
                year_close.c.recipient == node,
                year_close.c.year.in_(sorted(years)),
                year_close.c.state.in_(CLOSED),
            )
        ).scalars()
    )


def require_open(conn: Connection, node: str, years: Collection[int]) -> None:
    """Before ``node`` issues appropriations of ``years``: none of them is closed there
    (each year locked first, so a close under way sees the issue or is seen by it, and
    nothing reaches a node below after the close here)."""
    shut = closed_here(conn, node, years)
    if shut:
        raise InputError(
            said("closed_issues_nothing", year=shut[0]),
            hint=said("closed_issues_nothing_hint", next=shut[0] + 1),
        )
