"""What an operator's batch draws on (spending, 支出, or a breakdown, 分解): the
appropriations received here that its lines name, locked, with what is still available of
each and the year closed here of each.

A batch of a hundred thousand lines names as many appropriations. Their rows are locked
by their ids (only those, only their key and the columns the checks read), a block of ids
at a time in id order; what is available of each block is then read through a query
selecting the block (its ids from the first to the last,
:func:`~nodes.fiscal.appropriations.balances.balances_between`, not thousands of ids bound
three times over) when the block is dense (the node holds at most twice as many between
its first and last id; else by its ids, as a range would read all the node holds
between), and the closes of the node once for the whole batch (a handful of rows: one per
issuer and year), not per id.

The rows of a block are locked before its balances are read, and every block is locked
before the closes are read: on PostgreSQL (READ COMMITTED) what is read is what every
transaction that committed before the lock left, and nobody else can spend from those
rows, break them down, recover them or close their year (a close locks the rows it
states) until the batch commits. On SQLite the batch holds the database's write lock.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nodes.fiscal.appropriations.balances import balances, balances_between
from nodes.fiscal.appropriations.closed import CLOSED
from schema.tables import appropriation, year_close

__all__ = ["BLOCK", "Drawn", "lock_drawn"]

BLOCK = 2_000
"""Appropriations locked and read at a time."""

_CHECKED = (
    appropriation.c.id,
    appropriation.c.year,
    appropriation.c.issuer,
    appropriation.c.recipient,
    appropriation.c.doc_no,
    appropriation.c.func_code,
    appropriation.c.fund_code,
    appropriation.c.transfer_type,
    appropriation.c.direct,
)
_LOCK = (
    sa.select(*_CHECKED)
    .where(appropriation.c.id.in_(sa.bindparam("ids", expanding=True)))
    .order_by(appropriation.c.id)
    .with_for_update()
)
_CLOSES = (
    sa.select(year_close.c.issuer, year_close.c.year)
    .where(year_close.c.recipient == sa.bindparam("me"), year_close.c.state.in_(CLOSED))
    .distinct()
)
_BETWEEN = sa.select(sa.func.count()).select_from(
    sa.select(appropriation.c.id)
    .where(appropriation.c.id.between(sa.bindparam("first"), sa.bindparam("last")))
    .limit(sa.bindparam("most"))
    .subquery()
)
"""The statements built once (every spending and breakdown runs them)."""


@dataclass(frozen=True)
class Drawn:
    """The appropriations a batch draws on, received here and locked."""

    rows: dict[str, Any]
    """Each one's row (the columns of ``_CHECKED``); an id not received here is absent."""
    left: dict[str, int]
    """What is still available of each, in fen (:func:`balances.balances`)."""
    closed: dict[str, int]
    """Those of a year closed here (已结转), with that year."""


def _dense(conn: Connection, named: list[str]) -> bool:
    """Whether the appropriations from the first to the last of ``named`` (in key order)
    are at most twice as many as ``named``: counted no further than that, on the key."""
    most = 2 * len(named)
    between = conn.execute(_BETWEEN, {"first": named[0], "last": named[-1], "most": most + 1})
    return int(between.scalar_one()) <= most


def lock_drawn(conn: Connection, me: str, ids: Collection[str]) -> Drawn:
    """Lock the appropriations ``ids`` (in id order, a block at a time) and read, of those
    received by ``me``, what each is and what is still available of it, and the year
    closed here of each; the caller writes what it decides before its transaction ends."""
    rows: dict[str, Any] = {}
    left: dict[str, int] = {}
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), BLOCK):
        block = ordered[start : start + BLOCK]
        locked = [r for r in conn.execute(_LOCK, {"ids": block}) if r.recipient == me]
        if not locked:
            continue
        rows.update((r.id, r) for r in locked)
        named = [r.id for r in locked]
        if _dense(conn, named):
            # by its first and last id: every id of it is among them, and the few others
            # between (not locked) only add a figure nobody reads
            figures = balances_between(conn, named[0], named[-1])
        else:  # a few ids far apart: the range would read all the node holds between
            figures = balances(conn, named)
        left.update((ident, figures.get(ident, 0)) for ident in named)
    closes = {(issuer, int(year)) for issuer, year in conn.execute(_CLOSES, {"me": me})}
    closed = {ident: int(r.year) for ident, r in rows.items() if (r.issuer, int(r.year)) in closes}
    return Drawn(rows, left, closed)
