"""Information copies (抄送) of appropriations issued over a node's head.

When a node issues to a descendant that is not its child (the province to a county
under a city), every node in between receives a ``copy`` change-set with the same
operations, each naming its recipient in ``to``::

    {"op": "issue", ..., "to": "410102"}      # the operation as the county got it
    {"op": "decrease", "id": "...", "amount": 100, ..., "to": "410102"}

A copy is sent in the same transaction as the appropriation it copies. The node in
between keeps it apart from its own appropriations (``appropriation_copy``): it counts
in its 全辖 view (:func:`jurisdiction`), never in its own balance. The receiving node
checks a copy as it would check the appropriation itself, and more: the issuer is the
origin (an id of its own numbering), ``to`` is a node below the receiving one, and an
adjustment changes only a copy it holds from that issuer, never below zero.

Copies go to the nodes in between as the topology stands when the change-set is
written, for an adjustment as for an issue: after a move (a county under another city,
or made 省直管) its former parent gets no more, and a node now in between that holds no
copy opens it from the ``opening`` an adjustment's copy carries (the issue, for what
stood of it before), then takes the adjustment.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nodes.fiscal.appropriations.balances import balances
from nodes.fiscal.appropriations.operations import EVENT_SIGN, check_operation, operation_at
from nodes.fiscal.codes import Known
from nodes.fiscal.documents import Documents
from nodes.labels import named, said
from nodes.topology import Topology
from schema.engine import reading
from schema.locks import lock_rows
from schema.sums import total
from schema.tables import (
    appropriation,
    appropriation_copy,
    appropriation_copy_event,
    appropriation_event,
)
from schema.types import MAX_AMOUNT_FEN, format_yuan
from sync.changeset import Verified
from sync.errors import InputError

if TYPE_CHECKING:
    from nodes.node import Node

__all__ = [
    "KIND",
    "Share",
    "apply_copy",
    "copied",
    "in_between",
    "jurisdiction",
    "opening",
    "sends",
]

KIND = "copy"
"""The change-set kind of an information copy (抄送)."""


def in_between(topology: Topology, issuer: str, recipient: str) -> list[str]:
    """The nodes strictly between ``issuer`` and ``recipient`` (each gets a copy)."""
    chain = topology.ancestors(recipient)
    if issuer not in chain:
        return []
    return chain[: chain.index(issuer)]


def sends(topology: Topology, issuer: str, recipients: Iterable[str]) -> list[tuple[str, str, str]]:
    """The change-sets ``issuer`` writes for what goes to ``recipients``, in the lock order
    of their channel heads, as (to whom, kind, whose operations): each recipient's
    appropriations, and the information copies (抄送) for every node between the issuer
    and a recipient below its child."""
    found = [(to, "appropriation", to) for to in recipients]
    for to in recipients:
        for between in in_between(topology, issuer, to):
            found.append((between, KIND, to))
    return sorted(found, key=lambda send: (send[0], send[1] == KIND))


def opening(row: Any, standing: int) -> dict[str, Any]:
    """What an adjustment's copy carries for a node in between that holds no copy of the
    appropriation ``row`` (one moved in between since it was issued, 省直管 and other
    moves): its issue, for ``standing`` fen, as issuing it now would copy it."""
    from nodes.fiscal.reconcile.records import wire_time

    return {
        "op": "issue",
        "id": row.id,
        "year": row.year,
        "doc": row.doc_no,
        "title": row.title,
        "upper_doc": row.upper_doc_no,
        "parent_id": None,
        "from": row.parent_id,
        "func": row.func_code,
        "econ": row.econ_code,
        "fund": row.fund_code,
        "type": row.transfer_type,
        "direct": row.direct,
        "indicator": row.indicator_kind,
        "source": row.fund_source,
        "level": row.budget_level,
        "project": row.project_code,
        "amount": standing,
        "actor": row.created_by,
        "at": wire_time(row.created_at),
    }


def copied(operations: Iterable[dict[str, Any]], recipient: str) -> Iterator[dict[str, Any]]:
    """The operations of a copy: those sent to ``recipient``, each naming it in ``to``
    (made as they are read)."""
    return ({**op, "to": recipient} for op in operations)


def apply_copy(conn: Connection, verified: Verified, topology: Topology) -> int:
    """Keep the copies of a verified ``copy`` change-set; return the events kept.

    Runs in the channel's transaction; a bad operation raises :class:`InputError` and the
    whole change-set is refused with that reason. The copies an adjustment changes are
    locked before they are read.
    """
    header = verified.header
    issuer, me = header.origin, header.recipient
    known = Known(conn)
    documents = Documents(topology)
    times: dict[str, datetime] = {}
    count = 0
    for index, op in enumerate(verified.operations(), 1):
        at = check_operation(op, index, times, issuer, known, documents)
        to = op.get("to")
        if not isinstance(to, str) or to not in topology or not topology.is_ancestor(me, to):
            raise InputError(said("copy_to_bad", where=operation_at(index), me=me, to=to))
        if issuer in (me, to) or not topology.is_ancestor(issuer, me):
            raise InputError(
                said("copy_not_above", where=operation_at(index), issuer=issuer, me=me, to=to)
            )
        ident, kind = op["id"], op["op"]
        held = lock_rows(conn, appropriation_copy.c.id, [ident])
        if kind != "issue" and not held and isinstance(op.get("opening"), dict):
            opened = {**op["opening"], "to": to}  # a node moved in between since it was issued
            if opened.get("op") != "issue" or opened.get("id") != ident:
                raise InputError(said("copy_opening_bad", where=operation_at(index), ident=ident))
            opened_at = check_operation(opened, index, times, issuer, known, documents)
            _open(conn, verified, opened, opened_at)
            held = lock_rows(conn, appropriation_copy.c.id, [ident])
        if kind == "issue":
            if held:
                raise InputError(said("copy_held", where=operation_at(index), ident=ident))
            _open(conn, verified, {**op, "to": to}, at)
            count += 1
            continue
        if not held or held[0].issuer != issuer or held[0].recipient != to:
            raise InputError(
                said(
                    "copy_none",
                    where=operation_at(index),
                    kind=named("event", kind),
                    ident=ident,
                    issuer=issuer,
                    to=to,
                )
            )
        last, standing = conn.execute(
            sa.select(
                sa.func.max(appropriation_copy_event.c.seq),
                total(appropriation_copy_event.c.amount_fen),
            ).where(appropriation_copy_event.c.appropriation_id == ident)
        ).one()
        change = EVENT_SIGN[kind] * op["amount"]
        if not 0 <= int(standing) + change <= MAX_AMOUNT_FEN:
            raise InputError(
                said(
                    "copy_out_of_bounds",
                    where=operation_at(index),
                    kind=named("event", kind),
                    amount=format_yuan(op["amount"]),
                    ident=ident,
                    standing=format_yuan(int(standing)),
                )
            )
        _event(conn, verified, ident, int(last) + 1, kind, change, op["doc"], at)
        count += 1
    return count


def _open(conn: Connection, verified: Verified, op: dict[str, Any], at: datetime) -> None:
    """Keep the copy an ``issue`` operation (checked) opens, with its first event."""
    conn.execute(
        appropriation_copy.insert().values(
            id=op["id"],
            year=op["year"],
            issuer=verified.header.origin,
            recipient=op["to"],
            doc_no=op["doc"],
            title=op.get("title") or "",
            func_code=op["func"],
            econ_code=op["econ"],
            fund_code=op["fund"],
            transfer_type=op.get("type", "general"),
            direct=op.get("direct", False),
            project_code=op.get("project"),
            taken_at=at,
        )
    )
    _event(conn, verified, op["id"], 1, "issue", op["amount"], op["doc"], at)


def _event(
    conn: Connection,
    verified: Verified,
    ident: str,
    seq: int,
    kind: str,
    amount_fen: int,
    doc: str,
    at: datetime,
) -> None:
    conn.execute(
        appropriation_copy_event.insert().values(
            appropriation_id=ident,
            seq=seq,
            kind=kind,
            amount_fen=amount_fen,
            doc_no=doc,
            at=at,
            changeset_id=verified.id,
        )
    )


@dataclass(frozen=True)
class Share:
    """One appropriation that came into this node's jurisdiction (全辖) from above.

    ``copy`` says it was issued over this node's head to a node below (抄送): it counts
    in the 全辖 total, not in this node's balance (``available_fen`` is None then).
    """

    id: str
    year: int
    issuer: str
    recipient: str
    doc_no: str
    upper_doc_no: str | None
    func_code: str
    transfer_type: str
    direct: bool
    amount_fen: int
    available_fen: int | None
    copy: bool


def jurisdiction(node: Node, year: int | None = None) -> list[Share]:
    """What came into this node's jurisdiction (全辖) from above: what it received, and
    the copies of what was issued over its head to the nodes below it."""
    return list(iter_jurisdiction(node, year))


STREAM_ROWS = 2_000
"""Rows fetched from the database at a time by :func:`iter_jurisdiction`."""


def iter_jurisdiction(node: Node, year: int | None = None) -> Iterator[Share]:
    """:func:`jurisdiction` one share at a time, in bounded memory whatever their number:
    what was received, a few thousand rows at a time with the balances of each block,
    then the copies. The connection stays open until the iterator is exhausted or
    closed."""
    me = node.spec.code
    own = appropriation.c.recipient == me
    copies = sa.true()
    if year is not None:
        own = own & (appropriation.c.year == year)
        copies = appropriation_copy.c.year == year
    a, c = appropriation, appropriation_copy
    streamed = {"stream_results": True, "yield_per": STREAM_ROWS}
    with reading(node.engine, snapshot=True) as conn:
        received = conn.execute(
            sa.select(a, total(appropriation_event.c.amount_fen).label("amount"))
            .select_from(a.outerjoin(appropriation_event))
            .where(own)
            .group_by(*a.c)
            .order_by(a.c.id),
            execution_options=streamed,
        )
        for block in received.partitions():
            left = balances(conn, [r.id for r in block])
            for r in block:
                yield _share(r, int(r.amount or 0), left.get(r.id, 0))
        copy_rows = conn.execute(
            sa.select(c, total(appropriation_copy_event.c.amount_fen).label("amount"))
            .select_from(c.join(appropriation_copy_event))
            .where(copies)
            .group_by(*c.c)
            .order_by(c.c.id),
            execution_options=streamed,
        )
        for r in copy_rows:
            yield _share(r, int(r.amount), None)


def _share(row: Any, amount_fen: int, available_fen: int | None) -> Share:
    """A received appropriation (with what is available of it) or a copy (without)."""
    copy = available_fen is None
    return Share(
        row.id,
        row.year,
        row.issuer,
        row.recipient,
        row.doc_no,
        None if copy else row.upper_doc_no,
        row.func_code,
        row.transfer_type,
        bool(row.direct),
        amount_fen,
        available_fen,
        copy,
    )
