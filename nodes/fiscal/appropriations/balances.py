"""What is available (指标余额): received, less broken down, less spent; which events count.

A caller about to write what it decides from a balance holds the rows locked
(:func:`schema.locks.lock_rows`); sums are exact past 64 bits (:func:`schema.sums.total`).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from schema.channels import outbox
from schema.sums import total
from schema.tables import appropriation, appropriation_event, ledger_entry, year_close

if TYPE_CHECKING:
    pass

__all__ = [
    "available",
    "balances",
    "balances_between",
    "budget_by_func",
    "counted",
    "issued_events",
    "taken",
]


def issued_events() -> sa.Join:
    """Appropriations joined to their events and to the outbox entry that carried each."""
    return appropriation.join(appropriation_event).outerjoin(
        outbox, outbox.c.id == appropriation_event.c.changeset_id
    )


def counted() -> sa.ColumnElement[bool]:
    """Which events count, over :func:`issued_events` (指标控制 errs on the safe side).

    An event sent in a change-set its recipient refused (negative receipt) never took
    effect. An issue or increase counts from the moment it is sent; a decrease or
    recovery only once the recipient's receipt accepts it, since the recipient may
    refuse it when the money is no longer available there. Events received from above
    have no outbox entry here and always count.

    Except the recoveries of a year-end acceptance that carries them over (结转): they
    count from the moment they are sent, as the carry-overs sent with them do. The
    recipient closed that year (it spends nothing of it any more) and takes or refuses
    the change-set whole; counted only on its receipt, the carry-overs would overdraw
    the appropriation they are broken down from until then.
    """
    carried = sa.exists().where(
        year_close.c.accepted_id == outbox.c.id, year_close.c.mode == "carry"
    )
    return sa.or_(
        outbox.c.id.is_(None),
        outbox.c.receipt_verdict == "applied",
        sa.and_(
            outbox.c.receipt_verdict.is_(None),
            sa.or_(appropriation_event.c.amount_fen > 0, carried),
        ),
    )


def balances(conn: Connection, ids: Collection[str] | sa.Select[Any]) -> dict[str, int]:
    """What is still available of each appropriation in ``ids`` (指标余额), in fen:
    received, minus what was broken down from it (net of recoveries), minus spending.

    ``ids`` may be a list or a query selecting the ids; three grouped queries in all. A
    caller about to write what it decides from a balance holds the rows locked.
    """
    if isinstance(ids, sa.Select):
        queries, params = _balance_queries(ids), {}
    else:
        queries, params = _BY_LIST, {"ids": list(ids)}
    return _net(*(conn.execute(q, params).all() for q in queries))


def balances_between(conn: Connection, first: str, last: str) -> dict[str, int]:
    """:func:`balances` of the appropriations from ``first`` to ``last`` (ids in key
    order): a block of them read by joining, not through thousands of bound ids. Any id
    between them, held here, has its figure too."""
    params = {"first": first, "last": last}
    return _net(*(conn.execute(q, params).all() for q in _BETWEEN))


def _net(received: Any, broken_down: Any, spent: Any) -> dict[str, int]:
    """Each id's received less broken down less spent, from the rows of the three sums."""
    result: dict[str, int] = dict(received)
    for rows in (broken_down, spent):
        for ident, fen in rows:
            result[ident] = result.get(ident, 0) - fen
    return result


def taken(conn: Connection, ids: sa.Select[Any]) -> dict[str, int]:
    """What was broken down (as it counts) and spent of each appropriation ``ids``
    selects, in fen: what :func:`balances` takes off what was received (two grouped
    queries; for one that caller has just summed the events of itself)."""
    _, broken_down, spent = _balance_queries(ids)
    result: dict[str, int] = {}
    for query in (broken_down, spent):
        for ident, fen in conn.execute(query):
            result[ident] = result.get(ident, 0) + fen
    return result


def _balance_queries(ids: Any) -> tuple[sa.Select[Any], sa.Select[Any], sa.Select[Any]]:
    """What was received, broken down (as it counts) and spent, of each of ``ids``."""
    amount = total(appropriation_event.c.amount_fen)
    received = (
        sa.select(appropriation_event.c.appropriation_id, amount)
        .where(appropriation_event.c.appropriation_id.in_(ids))
        .group_by(appropriation_event.c.appropriation_id)
    )
    broken_down = (
        sa.select(appropriation.c.parent_id, amount)
        .select_from(issued_events())
        .where(appropriation.c.parent_id.in_(ids), counted())
        .group_by(appropriation.c.parent_id)
    )
    spent = (
        sa.select(ledger_entry.c.appropriation_id, total(ledger_entry.c.amount_fen))
        .where(ledger_entry.c.appropriation_id.in_(ids), ledger_entry.c.direction == "expenditure")
        .group_by(ledger_entry.c.appropriation_id)
    )
    return received, broken_down, spent


_BY_LIST = _balance_queries(sa.bindparam("ids", expanding=True))
"""The three queries of :func:`balances` for a list of ids, built once (every check of
an amount and every reading of a node's balances runs them)."""
_BETWEEN = _balance_queries(
    sa.select(appropriation.c.id).where(
        appropriation.c.id.between(sa.bindparam("first"), sa.bindparam("last"))
    )
)
"""The three queries of :func:`balances_between`, built once (a batch runs them for each
block of the appropriations it draws on)."""


def available(conn: Connection, appropriation_id: str) -> int:
    """What is still available of one appropriation received here, in fen."""
    return balances(conn, [appropriation_id]).get(appropriation_id, 0)


def budget_by_func(conn: Connection, node_code: str, year: int) -> dict[str, int]:
    """This node's own budget by functional classification for ``year``, in fen:
    what it received, less what it broke down to its children (the reports' budget)."""
    amount = total(appropriation_event.c.amount_fen)
    received = conn.execute(
        sa.select(appropriation.c.func_code, amount)
        .select_from(appropriation.join(appropriation_event))
        .where(appropriation.c.recipient == node_code, appropriation.c.year == year)
        .group_by(appropriation.c.func_code)
    ).all()
    parent = appropriation.alias("parent")
    broken_down = conn.execute(
        sa.select(parent.c.func_code, amount)
        .select_from(issued_events().join(parent, parent.c.id == appropriation.c.parent_id))
        .where(parent.c.recipient == node_code, parent.c.year == year, counted())
        .group_by(parent.c.func_code)
    ).all()
    result: dict[str, int] = dict(received)
    for code, fen in broken_down:
        result[code] = result.get(code, 0) - fen
    return result
