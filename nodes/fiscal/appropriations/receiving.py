"""Registering what arrives (the recipient's side): an ``appropriation`` change-set applied.

The recipient registers each appropriation with the issuer's document number, and
enforces the issuer's authority itself: an ``issue`` only under an id of the origin's
own numbering, an increase, decrease or recovery only from the appropriation's issuer,
and a decrease or recovery no larger than what is still available here (the rows locked).
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import islice
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nodes.codes import Known
from nodes.fiscal.appropriations.balances import balances
from nodes.fiscal.appropriations.operations import (
    APPROPRIATION_COLUMNS,
    EVENT_COLUMNS,
    EVENT_SIGN,
    FIELD_LENGTH,
    check_operation,
    issued_under,
)
from schema.bulk import insert_rows
from schema.locks import lock_rows
from schema.sums import total
from schema.tables import appropriation, appropriation_event
from schema.types import MAX_AMOUNT_FEN, format_yuan
from sync.changeset import Verified
from sync.errors import InputError

if TYPE_CHECKING:
    pass

__all__ = ["apply_received"]

BATCH = 5_000

CHUNK = 50_000


def _batches(items: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(items)
    while batch := list(islice(iterator, BATCH)):
        yield batch


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
    known = Known(conn)
    events = 0
    done = 0
    while True:
        chunk = _Chunk(
            islice(operations, CHUNK), done, header.origin, header.recipient, verified.id, known
        )
        insert_rows(conn, appropriation, APPROPRIATION_COLUMNS, chunk.appropriations())
        event_rows = chunk.events
        if chunk.adjusted:
            event_rows = _number_adjustments(conn, event_rows, header.origin, header.recipient)
        insert_rows(conn, appropriation_event, EVENT_COLUMNS, event_rows)
        events += len(event_rows)
        done = chunk.index
        if chunk.taken < CHUNK:
            return events


def _apply_batches(conn: Connection, verified: Verified) -> int:
    """The reference way: batches checked whole (ids too) before anything is inserted."""
    header = verified.header
    known = Known(conn)
    events = 0
    done = 0
    for batch in _batches(verified.operations()):
        chunk = _Chunk(iter(batch), done, header.origin, header.recipient, verified.id, known)
        new_rows = list(chunk.appropriations())
        done = chunk.index
        if new_rows:
            _refuse_known(conn, [r[0] for r in new_rows])
            insert_rows(conn, appropriation, APPROPRIATION_COLUMNS, new_rows)
        event_rows = chunk.events
        if chunk.adjusted:
            event_rows = _number_adjustments(conn, event_rows, header.origin, header.recipient)
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
        known: Known,
    ) -> None:
        self.operations = operations
        self.index = done  # operations before this chunk, then the number of the last taken
        self.taken = 0
        self.adjusted = False  # holds increases, decreases or recoveries (seq 0 until numbered)
        self.issuer = issuer
        self.recipient = recipient
        self.changeset_id = changeset_id
        self.events: list[tuple[Any, ...]] = []
        self.known = known
        self.by_year: dict[Any, tuple[Any, ...]] = {}

    def appropriations(self) -> Iterator[tuple[Any, ...]]:
        issuer = self.issuer
        recipient = self.recipient
        changeset_id = self.changeset_id
        append = self.events.append
        times: dict[str, datetime] = {}  # 'at' texts already checked in this chunk
        by_year = self.by_year  # each year seen: its func, econ and fund codes, id prefix
        known = self.known
        id_max, doc_max, actor_max, title_max, upper_max, project_max = (
            FIELD_LENGTH[k] for k in ("id", "doc", "actor", "title", "upper_doc", "project")
        )
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
                title = get("title")
                upper_doc = get("upper_doc")
                project = get("project")
                valid = by_year.get(year)
                if valid is None and type(year) is int:
                    valid = by_year[year] = (
                        *(known.codes(c, year) for c in ("func", "econ", "fund")),
                        issued_under(issuer, year),
                    )
                if (
                    at is None
                    or valid is None
                    or type(amount) is not int
                    or amount <= 0
                    or amount > MAX_AMOUNT_FEN
                    or type(ident) is not str
                    or not ident.startswith(valid[3])
                    or not ident[len(valid[3]) :].isdigit()
                    or len(ident) > id_max
                    or type(doc) is not str
                    or not doc
                    or len(doc) > doc_max
                    or type(func) is not str
                    or not func
                    or type(econ) is not str
                    or not econ
                    or type(fund) is not str
                    or not fund
                    or type(actor) is not str
                    or not actor
                    or len(actor) > actor_max
                    or (transfer != "special" and transfer != "general")
                    or func not in valid[0]
                    or econ not in valid[1]
                    or fund not in valid[2]
                    or (title is not None and (type(title) is not str or len(title) > title_max))
                    or (
                        upper_doc is not None
                        and (type(upper_doc) is not str or len(upper_doc) > upper_max)
                    )
                    or (
                        project is not None
                        and (type(project) is not str or len(project) > project_max)
                    )
                ):
                    at = check_operation(op, f"operation {self.index}", times, issuer, known)
                append((ident, 1, kind, amount, doc, actor, at, changeset_id))
                yield (
                    ident,
                    year,
                    issuer,
                    recipient,
                    doc,
                    title or "",
                    upper_doc,
                    None,
                    func,
                    econ,
                    fund,
                    transfer,
                    project,
                    at,
                    actor,
                )
            else:
                at = check_operation(op, f"operation {self.index}", times, issuer)
                self.adjusted = True
                append((op["id"], 0, kind, EVENT_SIGN[kind] * amount, doc, actor, at, changeset_id))


def _refuse_known(conn: Connection, ids: list[str]) -> None:
    if len(set(ids)) != len(ids):
        raise InputError("the same appropriation id is issued twice in one change-set")
    known = conn.execute(sa.select(appropriation.c.id).where(appropriation.c.id.in_(ids))).first()
    if known is not None:
        raise InputError(f"appropriation {known.id} was already issued")


def _number_adjustments(
    conn: Connection, events: list[tuple[Any, ...]], issuer: str, recipient: str
) -> list[tuple[Any, ...]]:
    """Return ``events`` (rows in EVENT_COLUMNS order) with each adjustment's seq filled in.

    Only the appropriation's issuer may change it, and only what it issued to this node.
    A decrease or recovery may take no more than is still available here (what was
    received, less what was broken down to children and spent): the issuer cannot see
    that, so the recipient checks it, with the rows locked, and refuses the change-set
    otherwise. An increase may not take the appropriation past ``MAX_AMOUNT_FEN``.
    """
    ids = {e[0] for e in events if e[1] == 0}
    held = {r.id: r for r in lock_rows(conn, appropriation.c.id, ids)}
    standing = conn.execute(
        sa.select(
            appropriation_event.c.appropriation_id,
            sa.func.max(appropriation_event.c.seq),
            total(appropriation_event.c.amount_fen),
        )
        .where(appropriation_event.c.appropriation_id.in_(ids))
        .group_by(appropriation_event.c.appropriation_id)
    ).all()
    last = {ident: int(seq) for ident, seq, _amount in standing}
    amount_of = {ident: int(amount) for ident, _seq, amount in standing}
    left = balances(conn, list(held))
    numbered = []
    for event in events:
        ident, seq, kind, amount = event[0], event[1], event[2], event[3]
        if seq:  # issued by this very change-set
            last[ident] = max(last.get(ident, 0), seq)
            amount_of[ident] = amount_of.get(ident, 0) + amount
            left[ident] = left.get(ident, 0) + amount
            numbered.append(event)
            continue
        row = held.get(ident)
        if row is None or row.recipient != recipient:
            raise InputError(f"{kind} of unknown appropriation {ident}")
        if row.issuer != issuer:
            raise InputError(
                f"{kind} of {ident} refused: only its issuer {row.issuer} may change it, "
                f"not {issuer}"
            )
        if amount < 0 and -amount > left.get(ident, 0):
            raise InputError(
                f"{kind} of {format_yuan(-amount)} 元 exceeds what is still available of "
                f"{ident} here: {format_yuan(left.get(ident, 0))} 元"
            )
        if amount_of.get(ident, 0) + amount > MAX_AMOUNT_FEN:
            raise InputError(
                f"{kind} of {format_yuan(amount)} 元 takes {ident} past the largest amount "
                f"of one appropriation, {format_yuan(MAX_AMOUNT_FEN)} 元"
            )
        last[ident] = last.get(ident, 0) + 1
        amount_of[ident] = amount_of.get(ident, 0) + amount
        left[ident] = left.get(ident, 0) + amount
        numbered.append((ident, last[ident], *event[2:]))
    return numbered
