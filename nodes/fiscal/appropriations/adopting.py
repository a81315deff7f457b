"""Taking back the issuer's side of an ``appropriation`` change-set (下达, 调增, 调减, 收回),
returned by its recipient after the issuer was restored from a backup that predates it.

What issuing wrote is written again from what the change-set says (it carries every
field of the record both sides keep, and for a breakdown (分解) the id of the received
appropriation it was taken from, ``from``): the appropriation and its events, the
issuer's counter past the id, and the edge's reconciliation digests. No balance or
duplicate check runs again: the recipient took it, and it stands.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nodes.fiscal.appropriations.operations import APPROPRIATION_COLUMNS, EVENT_SIGN
from nodes.fiscal.reconcile import records
from nodes.labels import said
from schema.bulk import insert_rows
from schema.locks import lock_rows, lock_scope
from schema.tables import appropriation, appropriation_event, counter
from schema.types import parse_utc
from sync.changeset import Verified
from sync.errors import InputError
from sync.merkle import leaf_of

__all__ = ["adopt_issued"]


def _count_past(conn: Connection, me: str, ident: str, year: int) -> None:
    scope = f"{me}-{year}"
    number = int(ident.rsplit("-", 1)[1])
    if lock_scope(conn, "appropriation", scope) < number:
        conn.execute(
            counter.update()
            .where(counter.c.name == "appropriation", counter.c.scope == scope)
            .values(last=number)
        )


def _check_held(
    conn: Connection, me: str, recipient: str, operations: list[dict[str, Any]]
) -> None:
    """Refuse an increase, decrease or recovery of an appropriation this node did not
    issue to ``recipient`` (on PostgreSQL no foreign key would: ``schema.tables``)."""
    changed = {str(op["id"]) for op in operations if op["op"] != "issue"}
    held = {
        r.id
        for r in lock_rows(conn, appropriation.c.id, changed)
        if r.issuer == me and r.recipient == recipient
    }
    for ident in sorted(changed - held):
        raise InputError(
            said("adopt_not_issued", ident=ident, me=me, recipient=recipient),
            hint=said("adopt_not_issued_hint"),
        )


def adopt_issued(conn: Connection, verified: Verified) -> None:
    """Redo at the issuer what sending ``verified`` (its own change-set) did."""
    me = verified.header.origin
    recipient = verified.header.recipient
    operations = list(verified.operations())
    ids = sorted({str(op["id"]) for op in operations})
    before = records.view(conn, records.ISSUER, ids)
    rows: list[tuple[Any, ...]] = []
    for op in operations:
        if op["op"] != "issue":
            continue
        rows.append(
            (
                op["id"],
                op["year"],
                me,
                recipient,
                op["doc"],
                op.get("title") or "",
                op.get("upper_doc"),
                op.get("from"),
                op["func"],
                op["econ"],
                op["fund"],
                op["type"],
                op.get("project"),
                parse_utc(op["at"]),
                op["actor"],
                leaf_of(str(op["id"])),
                op.get("direct", False),
                op.get("indicator", "annual"),
                op.get("source", "own" if op.get("upper_doc") is None else "upper"),
                op.get("level"),
            )
        )
        _count_past(conn, me, str(op["id"]), int(op["year"]))
    insert_rows(conn, appropriation, APPROPRIATION_COLUMNS, rows)
    _check_held(conn, me, recipient, operations)
    last: dict[str, int] = {}
    for op in operations:
        ident = str(op["id"])
        if ident not in last:
            last[ident] = int(
                conn.execute(
                    sa.select(sa.func.coalesce(sa.func.max(appropriation_event.c.seq), 0)).where(
                        appropriation_event.c.appropriation_id == ident
                    )
                ).scalar_one()
            )
        last[ident] += 1
        conn.execute(
            appropriation_event.insert().values(
                appropriation_id=ident,
                seq=last[ident],
                kind=op["op"],
                amount_fen=EVENT_SIGN[op["op"]] * int(op["amount"]),
                doc_no=op["doc"],
                actor=op["actor"],
                at=parse_utc(op["at"]),
                changeset_id=verified.id,
            )
        )
    after = records.view(conn, records.ISSUER, ids)
    records.refresh(conn, records.scope(me, recipient), before, after)
