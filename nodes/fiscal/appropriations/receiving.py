"""Registering what arrives (the recipient's side): an ``appropriation`` change-set applied.

The recipient registers each appropriation with the issuer's document number, and
enforces the issuer's authority itself: an ``issue`` only under an id of the origin's
own numbering, an increase, decrease or recovery only from the appropriation's issuer,
and a decrease or recovery no larger than what is still available here (the rows locked).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import datetime
from itertools import islice
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nodes.fiscal.appropriations.balances import balances
from nodes.fiscal.appropriations.closed import (
    MARK,
    accepted_here,
    closed_here,
    closed_ids,
    lock_edges_of,
    stated_balances,
)
from nodes.fiscal.appropriations.operations import (
    APPROPRIATION_COLUMNS,
    EVENT_COLUMNS,
    EVENT_SIGN,
    Issues,
    check_operation,
    operation_at,
)
from nodes.fiscal.codes import Known
from nodes.fiscal.documents import Documents
from nodes.fiscal.reconcile import records
from nodes.labels import named, said
from schema.bulk import insert_rows
from schema.locks import lock_rows
from schema.sums import total
from schema.tables import appropriation, appropriation_event
from schema.types import MAX_AMOUNT_FEN, format_yuan
from sync import merkle
from sync.changeset import Verified
from sync.errors import InputError

if TYPE_CHECKING:
    pass

__all__ = ["apply_received"]

CHUNK = 50_000
"""Operations decoded and turned into rows at a time (bounded memory)."""
_NAMING = 5_000


def apply_received(conn: Connection, verified: Verified, documents: Documents | None = None) -> int:
    """Register the appropriations of a verified change-set at its recipient.

    ``documents`` are the 文号 rules of the node's topology (none checked without them).

    Runs inside the channel's transaction; any bad operation raises :class:`InputError`
    and the whole change-set is refused. Returns the number of events recorded.

    Chunks of operations are streamed into the database as they are decoded: a chunk's
    appropriation rows go to :func:`insert_rows` as a generator, then its event rows, so
    nothing is held but the chunk's event rows, and on PostgreSQL, whose COPY streams,
    the decoding and checking overlap the server's inserts. Ids are not looked up
    beforehand: an id issued twice, or already known, breaks the primary key, and only
    then are the ids read again to name it. Any other failure is not the content's and
    goes up as it is.
    """
    # The cyclic garbage collector would walk the young objects again and again while a
    # million operations make dicts and tuples, none of which form cycles (about 10% of
    # the time of an apply): it is paused until the change-set is applied.
    collecting = gc.isenabled()
    gc.disable()
    try:
        savepoint = conn.begin_nested()
        try:
            events = _apply(conn, verified, documents)
        except sa.exc.IntegrityError:
            savepoint.rollback()
            _name_known_ids(conn, verified)  # raises InputError when an id is the cause
            raise
        except BaseException:
            savepoint.rollback()
            raise
        savepoint.commit()
        return events
    finally:
        if collecting:
            gc.enable()


def _apply(conn: Connection, verified: Verified, documents: Documents | None) -> int:
    header = verified.header
    operations = verified.operations()
    issues = Issues(header.origin, header.recipient, verified.id, Known(conn), documents)
    digests = merkle.Changes(records.scope(header.origin, header.recipient))
    digest = records.digester(conn)
    adjusted: set[str] = set()
    years: set[int] = set()
    marks: dict[str, int] = {}
    carried: set[str] = set()  # the ids the change-set's issues carry over (carried_from)
    unmarked: dict[str, InputError] = {}  # a closed id's recovery with no mark: why not
    events = 0
    done = 0
    while True:
        chunk = _Chunk(islice(operations, CHUNK), done, issues, header.seq, digests, digest)
        chunk.years = years
        chunk.marks = marks
        chunk.carried = carried
        insert_rows(conn, appropriation, APPROPRIATION_COLUMNS, chunk.appropriations())
        event_rows = chunk.events
        if chunk.adjusted:
            event_rows = _number_adjustments(
                conn, event_rows, header.origin, header.recipient, marks, unmarked, years
            )
            adjusted.update(e[0] for e in event_rows if e[2] != "issue")
        insert_rows(conn, appropriation_event, EVENT_COLUMNS, event_rows)
        events += len(event_rows)
        done = chunk.index
        if chunk.taken < CHUNK:
            break
    for ident, refusal in unmarked.items():
        if ident not in carried:
            raise refusal
    # The new rows above are seen by no other transaction before this one commits, so
    # none waits on them: taking the year after them closes no cycle (closed.lock_year).
    closed = closed_here(conn, header.recipient, years)
    if closed:
        raise InputError(
            said("recv_year_closed", code=header.recipient, year=closed[0], issuer=header.origin)
        )
    merkle.apply(conn, digests)
    if adjusted:
        _refresh_adjusted(conn, verified, adjusted)
    return events


def _refresh_adjusted(conn: Connection, verified: Verified, ids: set[str]) -> None:
    """Bring the digests of appropriations this change-set adjusted up to date: from what
    they were before it (or, for one it also issued, from its issue alone, which the
    streaming already counted) to what they are now."""
    cs = verified.id
    pending = {cs: verified.header.seq}
    here = records.RECIPIENT
    issued_too = set(
        conn.execute(
            sa.select(appropriation_event.c.appropriation_id).where(
                appropriation_event.c.changeset_id == cs,
                appropriation_event.c.kind == "issue",
                appropriation_event.c.appropriation_id.in_(ids),
            )
        ).scalars()
    )
    before = records.view(conn, here, ids - issued_too, excluding={cs})
    before.update(records.view(conn, here, issued_too, pending=pending, kinds={"issue"}))
    after = records.view(conn, here, ids, pending=pending)
    header = verified.header
    records.refresh(conn, records.scope(header.origin, header.recipient), before, after)


class _Chunk:
    """Turns operations into rows: appropriation rows yielded, event rows kept in order.

    Once :meth:`appropriations` is exhausted, :attr:`events` holds the event rows of every
    operation taken, and :attr:`adjusted` tells whether some need their seq numbered.
    """

    def __init__(
        self,
        operations: Iterator[dict[str, Any]],
        done: int,
        issues: Issues,
        seq: int,
        digests: merkle.Changes,
        digest: merkle.RecordDigest,
    ) -> None:
        self.operations = operations
        self.seq = seq  # of the change-set on its channel, which records carry
        self.digests = digests
        self.digest = digest  # of a record, under the network's suite
        self.index = done  # operations before this chunk, then the number of the last taken
        self.taken = 0
        self.adjusted = False  # holds increases, decreases or recoveries (seq 0 until numbered)
        self.issues = issues
        self.events: list[tuple[Any, ...]] = []
        self.years: set[int] = set()  # of the appropriations issued
        self.marks: dict[str, int] = {}  # id → the year an acceptance's recovery closes
        self.carried: set[str] = set()  # ids an issue carries over (an acceptance's)

    def appropriations(self) -> Iterator[tuple[Any, ...]]:
        issues = self.issues
        take = issues.take
        append = self.events.append
        times: dict[str, datetime] = {}  # 'at' texts already checked in this chunk
        wire: dict[datetime, str] = {}  # and each time as records hold it
        add = self.digests.add
        digest = self.digest
        seq = self.seq
        for op in self.operations:
            self.index += 1
            self.taken += 1
            if op.get("op") == "issue":
                if op.get("carried_from"):
                    self.carried.add(str(op["carried_from"]))
                row, event = take(op, self.index, times)
                append(event)
                at = event[6]
                text = wire.get(at)
                if text is None:
                    text = wire[at] = records.wire_time(at)
                add(row[0], records.new_digest(row, seq, event[3], text, digest), row[15])
                self.years.add(row[1])
                yield row
            else:
                at = check_operation(op, self.index, times, issues.issuer, None, issues.documents)
                self.adjusted = True
                kind = op["op"]
                if MARK in op:
                    if kind != "recover" or type(op[MARK]) is not int:
                        where = operation_at(self.index)
                        raise InputError(said("recv_mark_misplaced", where=where, mark=MARK))
                    self.marks[op["id"]] = op[MARK]
                append(
                    (
                        op["id"],
                        0,
                        kind,
                        EVENT_SIGN[kind] * op["amount"],
                        op["doc"],
                        op["actor"],
                        at,
                        issues.changeset_id,
                    )
                )


def _name_known_ids(conn: Connection, verified: Verified) -> None:
    """Raise :class:`InputError` naming the first id the change-set issues twice or that
    was issued already; return quietly if there is none."""
    seen: set[str] = set()
    batch: list[str] = []

    def check(ids: list[str]) -> None:
        query = sa.select(appropriation.c.id).where(appropriation.c.id.in_(ids)).limit(1)
        known = conn.execute(query).scalar_one_or_none()
        if known is not None:
            raise InputError(said("recv_already_issued", ident=known))

    for op in verified.operations():
        if op.get("op") != "issue":
            continue
        ident = op["id"]
        if ident in seen:
            raise InputError(said("recv_issued_twice", ident=ident))
        seen.add(ident)
        batch.append(ident)
        if len(batch) == _NAMING:
            check(batch)
            batch = []
    if batch:
        check(batch)


def _number_adjustments(
    conn: Connection,
    events: list[tuple[Any, ...]],
    issuer: str,
    recipient: str,
    marks: dict[str, int],
    unmarked: dict[str, InputError],
    issued: set[int],
) -> list[tuple[Any, ...]]:
    """Return ``events`` (rows in EVENT_COLUMNS order) with each adjustment's seq filled in.

    Only the appropriation's issuer may change it, and only what it issued to this node.
    A decrease or recovery may take no more than is still available here (what was
    received, less what was broken down to children and spent): the issuer cannot see
    that, so the recipient checks it, with the rows locked, and refuses the change-set
    otherwise. An increase may not take the appropriation past ``MAX_AMOUNT_FEN``. Of a
    year closed here it takes only the recovery of an acceptance (marked with the year,
    ``marks``) of the balance the statement named; one of that balance with no mark, from
    an acceptance written before the mark, only when the same change-set carries the id
    over (an issue's ``carried_from``: the caller checks, with the refusal kept in
    ``unmarked``). The year and edges of the rows are locked before the rows (the
    year-end lock order, as a close takes them), with the years of the rows the
    change-set issued so far (``issued``): all of them ascending, before any row.
    """
    ids = {e[0] for e in events if e[1] == 0}
    lock_edges_of(conn, ids, also=issued, at=recipient)
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
    closed = closed_ids(conn, list(held))
    stated = stated_balances(conn, list(closed))
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
            raise InputError(said("recv_unknown", kind=named("event", kind), ident=ident))
        if row.issuer != issuer:
            raise InputError(
                said(
                    "recv_not_issuer",
                    kind=named("event", kind),
                    ident=ident,
                    issuer=row.issuer,
                    sender=issuer,
                )
            )
        if ident in closed and (
            kind != "recover" or -amount != stated.get(ident) or marks.get(ident) != closed[ident]
        ):
            refusal = InputError(
                said(
                    "recv_closed_change",
                    kind=named("event", kind),
                    ident=ident,
                    year=closed[ident],
                    balance=format_yuan(stated.get(ident, 0)),
                )
            )
            if kind != "recover" or -amount != stated.get(ident) or ident in marks:
                raise refusal
            unmarked[ident] = refusal
        if amount < 0 and -amount > left.get(ident, 0):
            raise InputError(
                said(
                    "recv_exceeds_available",
                    kind=named("event", kind),
                    amount=format_yuan(-amount),
                    ident=ident,
                    left=format_yuan(left.get(ident, 0)),
                )
            )
        if amount_of.get(ident, 0) + amount > MAX_AMOUNT_FEN:
            raise InputError(
                said(
                    "recv_over_largest",
                    kind=named("event", kind),
                    amount=format_yuan(amount),
                    ident=ident,
                    largest=format_yuan(MAX_AMOUNT_FEN),
                )
            )
        last[ident] = last.get(ident, 0) + 1
        amount_of[ident] = amount_of.get(ident, 0) + amount
        left[ident] = left.get(ident, 0) + amount
        numbered.append((ident, last[ident], *event[2:]))
    accepted_here(conn, [e[0] for e in events if not e[1] and e[0] in closed])
    return numbered
