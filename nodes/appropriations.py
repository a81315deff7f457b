"""Budget appropriations (预算指标): what an upper level issues (下达) to a lower one.

An appropriation is never overwritten: its amount is the sum of its events (issue,
increase, decrease, recover), each with who, when and under which document number. The
operations of an ``appropriation`` change-set::

    {"op": "issue", "id": "...", "year": 2026, "doc": "豫财教〔2026〕12号", "title": "...",
     "upper_doc": null, "parent_id": null, "func": "2050201", "econ": "50201",
     "fund": "111", "type": "general", "project": null, "amount": 123456,
     "actor": "...", "at": "2026-11-23T08:00:00Z"}
    {"op": "increase" | "decrease" | "recover", "id": "...", "amount": 100,
     "doc": "...", "actor": "...", "at": "..."}

Amounts are integer fen and always positive; the event's sign comes from its kind.
The recipient registers what it received on apply, with the issuer's document number.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from itertools import islice
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from schema.bulk import insert_rows
from schema.tables import appropriation, appropriation_event
from sync.changeset import Verified
from sync.errors import InputError

__all__ = ["EVENT_SIGN", "apply_received"]

EVENT_SIGN = {"issue": 1, "increase": 1, "decrease": -1, "recover": -1}
TRANSFER_TYPES = ("general", "special")
BATCH = 5_000
_ISSUE_TEXT = ("id", "doc", "func", "econ", "fund", "actor", "at")
APPROPRIATION_COLUMNS = (
    "id",
    "year",
    "issuer",
    "recipient",
    "doc_no",
    "title",
    "upper_doc_no",
    "parent_id",
    "func_code",
    "econ_code",
    "fund_code",
    "transfer_type",
    "project_code",
    "created_at",
    "created_by",
)
EVENT_COLUMNS = (
    "appropriation_id",
    "seq",
    "kind",
    "amount_fen",
    "doc_no",
    "actor",
    "at",
    "changeset_id",
)


def _when(text: Any, where: str) -> datetime:
    if not isinstance(text, str):
        raise InputError(f"{where}: 'at' must be a UTC time")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InputError(f"{where}: 'at' {text!r} is not a time") from exc
    if moment.tzinfo is None:
        raise InputError(f"{where}: 'at' {text!r} has no time zone")
    return moment.astimezone(UTC)


def _amount(value: Any, where: str) -> int:
    if type(value) is not int or value <= 0:
        raise InputError(f"{where}: amount must be a positive whole number of fen, not {value!r}")
    return value


def _batches(items: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(items)
    while batch := list(islice(iterator, BATCH)):
        yield batch


def apply_received(conn: Connection, verified: Verified) -> int:
    """Register the appropriations of a verified change-set at its recipient.

    Runs inside the channel's transaction; any bad operation raises :class:`InputError`
    and the whole change-set is refused. Returns the number of events recorded.
    """
    issuer = verified.header.origin
    recipient = verified.header.recipient
    changeset_id = verified.id
    events = 0
    index = 0
    for batch in _batches(verified.operations()):
        new_rows: list[dict[str, Any]] = []
        event_rows: list[dict[str, Any]] = []
        adjusted: dict[str, int] = {}
        for op in batch:
            index += 1
            where = f"operation {index}"
            kind = op.get("op")
            if kind not in EVENT_SIGN:
                raise InputError(f"{where}: unknown appropriation operation {kind!r}")
            amount = _amount(op.get("amount"), where)
            at = _when(op.get("at"), where)
            if kind == "issue":
                for key in _ISSUE_TEXT:
                    if not isinstance(op.get(key), str) or not op[key]:
                        raise InputError(f"{where}: {key!r} is missing")
                if op.get("type", "general") not in TRANSFER_TYPES:
                    raise InputError(f"{where}: type must be general or special")
                if type(op.get("year")) is not int:
                    raise InputError(f"{where}: year must be a whole number")
                new_rows.append(
                    {
                        "id": op["id"],
                        "year": op["year"],
                        "issuer": issuer,
                        "recipient": recipient,
                        "doc_no": op["doc"],
                        "title": op.get("title") or "",
                        "upper_doc_no": op.get("upper_doc"),
                        "parent_id": None,
                        "func_code": op["func"],
                        "econ_code": op["econ"],
                        "fund_code": op["fund"],
                        "transfer_type": op.get("type", "general"),
                        "project_code": op.get("project"),
                        "created_at": at,
                        "created_by": op["actor"],
                    }
                )
                seq = 1
            else:
                adjusted[op["id"]] = adjusted.get(op["id"], 0) + 1
                seq = 0  # filled in below, once the existing events are counted
            event_rows.append(
                {
                    "appropriation_id": op.get("id"),
                    "seq": seq,
                    "kind": kind,
                    "amount_fen": EVENT_SIGN[kind] * amount,
                    "doc_no": op.get("doc"),
                    "actor": op.get("actor"),
                    "at": at,
                    "changeset_id": changeset_id,
                }
            )
        if new_rows:
            _refuse_known(conn, [r["id"] for r in new_rows])
            insert_rows(
                conn,
                appropriation,
                APPROPRIATION_COLUMNS,
                [tuple(r[c] for c in APPROPRIATION_COLUMNS) for r in new_rows],
            )
        if adjusted:
            _number_adjustments(conn, event_rows, recipient)
        insert_rows(
            conn,
            appropriation_event,
            EVENT_COLUMNS,
            [tuple(e[c] for c in EVENT_COLUMNS) for e in event_rows],
        )
        events += len(event_rows)
    return events


def _refuse_known(conn: Connection, ids: list[str]) -> None:
    if len(set(ids)) != len(ids):
        raise InputError("the same appropriation id is issued twice in one change-set")
    known = conn.execute(sa.select(appropriation.c.id).where(appropriation.c.id.in_(ids))).first()
    if known is not None:
        raise InputError(f"appropriation {known.id} was already issued")


def _number_adjustments(conn: Connection, events: list[dict[str, Any]], recipient: str) -> None:
    ids = {e["appropriation_id"] for e in events if e["seq"] == 0}
    rows = conn.execute(
        sa.select(
            appropriation.c.id,
            appropriation.c.recipient,
            sa.func.coalesce(sa.func.max(appropriation_event.c.seq), 0).label("last"),
            sa.func.coalesce(sa.func.sum(appropriation_event.c.amount_fen), 0).label("amount"),
        )
        .select_from(appropriation.outerjoin(appropriation_event))
        .where(appropriation.c.id.in_(ids))
        .group_by(appropriation.c.id, appropriation.c.recipient)
    ).all()
    state = {r.id: [int(r.last), int(r.amount), r.recipient] for r in rows}
    for event in events:
        if event["seq"]:
            ident = event["appropriation_id"]
            if ident in state:
                state[ident][0] = max(state[ident][0], event["seq"])
                state[ident][1] += event["amount_fen"]
            continue
        ident = event["appropriation_id"]
        if ident not in state or state[ident][2] != recipient:
            raise InputError(f"{event['kind']} of unknown appropriation {ident}")
        state[ident][0] += 1
        state[ident][1] += event["amount_fen"]
        if state[ident][1] < 0:
            raise InputError(f"{event['kind']} would take appropriation {ident} below zero")
        event["seq"] = state[ident][0]
