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

import gc
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
CHUNK = 50_000
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


def _checked(op: dict[str, Any], where: str, times: dict[str, datetime]) -> datetime:
    """Check one operation completely, in the order the errors are reported; return its time.

    The slow path: :func:`apply_received` takes it only for an operation its inline checks
    did not pass at once (an adjustment, a time not seen before in the batch, or a fault).
    """
    kind = op.get("op")
    if kind not in EVENT_SIGN:
        raise InputError(f"{where}: unknown appropriation operation {kind!r}")
    _amount(op.get("amount"), where)
    text: Any = op.get("at")
    at = _when(text, where)
    if kind == "issue":
        for key in _ISSUE_TEXT:
            if not isinstance(op.get(key), str) or not op[key]:
                raise InputError(f"{where}: {key!r} is missing")
        if op.get("type", "general") not in TRANSFER_TYPES:
            raise InputError(f"{where}: type must be general or special")
        if type(op.get("year")) is not int:
            raise InputError(f"{where}: year must be a whole number")
    times[text] = at
    return at


def apply_received(conn: Connection, verified: Verified) -> int:
    """Register the appropriations of a verified change-set at its recipient.

    Runs inside the channel's transaction; any bad operation raises :class:`InputError`
    and the whole change-set is refused. Returns the number of events recorded.
    """
    # The cyclic garbage collector would walk the young objects again and again while a
    # million operations make dicts and tuples, none of which form cycles (about 10% of
    # the time of an apply): it is paused until the change-set is applied.
    collecting = gc.isenabled()
    gc.disable()
    try:
        savepoint = conn.begin_nested()
        try:
            events = _apply_streaming(conn, verified)
        except Exception:
            # Whatever went wrong (a bad operation, an id already issued), the batches
            # below find it again and say it exactly as they always did.
            savepoint.rollback()
        else:
            savepoint.commit()
            return events
        return _apply_batches(conn, verified)
    finally:
        if collecting:
            gc.enable()


def _apply_streaming(conn: Connection, verified: Verified) -> int:
    """The fast way: chunks of operations streamed into the database as they are decoded.

    A chunk's appropriation rows go to :func:`insert_rows` as a generator, then its event
    rows: nothing is held but the chunk's event rows, and on PostgreSQL, whose COPY
    streams, the decoding and checking overlap the server's inserts. No ids are looked up
    beforehand: an id issued twice, or already known, breaks the primary key, and the
    caller then takes the change-set again by :func:`_apply_batches`, which names it.
    """
    header = verified.header
    operations = verified.operations()
    events = 0
    done = 0
    while True:
        chunk = _Chunk(
            islice(operations, CHUNK), done, header.origin, header.recipient, verified.id
        )
        insert_rows(conn, appropriation, APPROPRIATION_COLUMNS, chunk.appropriations())
        event_rows = chunk.events
        if chunk.adjusted:
            event_rows = _number_adjustments(conn, event_rows, header.recipient)
        insert_rows(conn, appropriation_event, EVENT_COLUMNS, event_rows)
        events += len(event_rows)
        done = chunk.index
        if chunk.taken < CHUNK:
            return events


def _apply_batches(conn: Connection, verified: Verified) -> int:
    """The reference way: batches checked whole (ids too) before anything is inserted."""
    header = verified.header
    events = 0
    done = 0
    for batch in _batches(verified.operations()):
        chunk = _Chunk(iter(batch), done, header.origin, header.recipient, verified.id)
        new_rows = list(chunk.appropriations())
        done = chunk.index
        if new_rows:
            _refuse_known(conn, [r[0] for r in new_rows])
            insert_rows(conn, appropriation, APPROPRIATION_COLUMNS, new_rows)
        event_rows = chunk.events
        if chunk.adjusted:
            event_rows = _number_adjustments(conn, event_rows, header.recipient)
        insert_rows(conn, appropriation_event, EVENT_COLUMNS, event_rows)
        events += len(event_rows)
    return events


class _Chunk:
    """Turns operations into rows: appropriation rows yielded, event rows kept in order.

    Once :meth:`appropriations` is exhausted, :attr:`events` holds the event rows of every
    operation taken, and :attr:`adjusted` tells whether some need their seq numbered.
    """

    def __init__(
        self,
        operations: Iterator[dict[str, Any]],
        done: int,
        issuer: str,
        recipient: str,
        changeset_id: str,
    ) -> None:
        self.operations = operations
        self.index = done  # operations before this chunk, then the number of the last taken
        self.taken = 0
        self.adjusted = False  # holds increases, decreases or recoveries (seq 0 until numbered)
        self.issuer = issuer
        self.recipient = recipient
        self.changeset_id = changeset_id
        self.events: list[tuple[Any, ...]] = []

    def appropriations(self) -> Iterator[tuple[Any, ...]]:
        issuer = self.issuer
        recipient = self.recipient
        changeset_id = self.changeset_id
        append = self.events.append
        times: dict[str, datetime] = {}  # 'at' texts already checked in this chunk
        for op in self.operations:
            self.index += 1
            self.taken += 1
            get: Any = op.get
            kind = get("op")
            ident = get("id")
            doc = get("doc")
            actor = get("actor")
            amount = get("amount")
            text = get("at")
            at = times.get(text) if type(text) is str else None
            if kind == "issue":
                func = get("func")
                econ = get("econ")
                fund = get("fund")
                transfer = get("type", "general")
                year = get("year")
                if (
                    at is None
                    or type(amount) is not int
                    or amount <= 0
                    or type(ident) is not str
                    or not ident
                    or type(doc) is not str
                    or not doc
                    or type(func) is not str
                    or not func
                    or type(econ) is not str
                    or not econ
                    or type(fund) is not str
                    or not fund
                    or type(actor) is not str
                    or not actor
                    or (transfer != "special" and transfer != "general")
                    or type(year) is not int
                ):
                    at = _checked(op, f"operation {self.index}", times)
                append((ident, 1, kind, amount, doc, actor, at, changeset_id))
                yield (
                    ident,
                    year,
                    issuer,
                    recipient,
                    doc,
                    get("title") or "",
                    get("upper_doc"),
                    None,
                    func,
                    econ,
                    fund,
                    transfer,
                    get("project"),
                    at,
                    actor,
                )
            else:
                at = _checked(op, f"operation {self.index}", times)
                self.adjusted = True
                append((op["id"], 0, kind, EVENT_SIGN[kind] * amount, doc, actor, at, changeset_id))


def _refuse_known(conn: Connection, ids: list[str]) -> None:
    if len(set(ids)) != len(ids):
        raise InputError("the same appropriation id is issued twice in one change-set")
    known = conn.execute(sa.select(appropriation.c.id).where(appropriation.c.id.in_(ids))).first()
    if known is not None:
        raise InputError(f"appropriation {known.id} was already issued")


def _number_adjustments(
    conn: Connection, events: list[tuple[Any, ...]], recipient: str
) -> list[tuple[Any, ...]]:
    """Return ``events`` (rows in EVENT_COLUMNS order) with each adjustment's seq filled in."""
    ids = {e[0] for e in events if e[1] == 0}
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
    numbered = []
    for event in events:
        ident, seq, kind, amount = event[0], event[1], event[2], event[3]
        if seq:
            if ident in state:
                state[ident][0] = max(state[ident][0], seq)
                state[ident][1] += amount
            numbered.append(event)
            continue
        if ident not in state or state[ident][2] != recipient:
            raise InputError(f"{kind} of unknown appropriation {ident}")
        state[ident][0] += 1
        state[ident][1] += amount
        if state[ident][1] < 0:
            raise InputError(f"{kind} would take appropriation {ident} below zero")
        numbered.append((ident, state[ident][0], *event[2:]))
    return numbered
