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
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nodes.policy import check_send
from schema.bulk import insert_rows
from schema.tables import appropriation, appropriation_event, ledger_entry
from schema.types import format_yuan
from sync.changeset import Verified
from sync.channel import enqueue
from sync.clock import SYSTEM_CLOCK, Clock
from sync.errors import InputError, NotAuthorized
from sync.pki import load_signer

if TYPE_CHECKING:
    from nodes.node import Node

__all__ = [
    "EVENT_SIGN",
    "Allocation",
    "Holding",
    "allocate",
    "apply_received",
    "available",
    "balances",
    "holdings",
]

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


# --- the issuing side ----------------------------------------------------------------------


@dataclass(frozen=True)
class Allocation:
    """One line to issue (下达): to a descendant, or broken down (分解) from a received one."""

    recipient: str
    amount_fen: int
    func: str
    econ: str
    fund: str
    doc: str
    year: int
    title: str = ""
    transfer_type: str = "general"
    project: str | None = None
    parent_id: str | None = None


@dataclass(frozen=True)
class Holding:
    """An appropriation as this node sees it, with what is still available of it."""

    id: str
    year: int
    issuer: str
    recipient: str
    doc_no: str
    title: str
    func_code: str
    econ_code: str
    fund_code: str
    transfer_type: str
    parent_id: str | None
    amount_fen: int
    available_fen: int


def balances(conn: Connection, ids: Collection[str] | sa.Select[Any]) -> dict[str, int]:
    """What is still available of each appropriation in ``ids`` (指标余额), in fen:
    received, minus what was broken down from it (net of recoveries), minus spending.

    ``ids`` may be a list or a query selecting the ids; three grouped queries in all.
    """
    total = sa.func.sum(appropriation_event.c.amount_fen)
    received = conn.execute(
        sa.select(appropriation_event.c.appropriation_id, total)
        .where(appropriation_event.c.appropriation_id.in_(ids))
        .group_by(appropriation_event.c.appropriation_id)
    ).all()
    broken_down = conn.execute(
        sa.select(appropriation.c.parent_id, total)
        .join(appropriation_event)
        .where(appropriation.c.parent_id.in_(ids))
        .group_by(appropriation.c.parent_id)
    ).all()
    spent = conn.execute(
        sa.select(ledger_entry.c.appropriation_id, sa.func.sum(ledger_entry.c.amount_fen))
        .where(ledger_entry.c.appropriation_id.in_(ids), ledger_entry.c.direction == "expenditure")
        .group_by(ledger_entry.c.appropriation_id)
    ).all()
    result = {ident: int(amount) for ident, amount in received}
    for rows in (broken_down, spent):
        for ident, amount in rows:
            result[ident] = result.get(ident, 0) - int(amount)
    return result


def available(conn: Connection, appropriation_id: str) -> int:
    """What is still available of one appropriation received here, in fen."""
    return balances(conn, [appropriation_id]).get(appropriation_id, 0)


def _check_line(number: int, line: Allocation, node: Node) -> list[str]:
    problems = []
    where = f"line {number}"
    try:
        check_send(node.topology, node.spec.code, line.recipient, "appropriation")
    except NotAuthorized as exc:
        problems.append(f"{where}: recipient {line.recipient}: {exc.message}")
    if line.amount_fen <= 0:
        problems.append(f"{where}: amount must be more than zero")
    if not (line.func.isdigit() and len(line.func) == 7):
        problems.append(f"{where}: functional classification {line.func!r} is not 7 digits")
    if not (line.econ.isdigit() and len(line.econ) == 5):
        problems.append(f"{where}: economic classification {line.econ!r} is not 5 digits")
    if not line.fund.strip():
        problems.append(f"{where}: fund type is missing")
    if not line.doc.strip():
        problems.append(f"{where}: document number (文号) is missing")
    if line.transfer_type not in TRANSFER_TYPES:
        problems.append(f"{where}: type must be general or special")
    return problems


def allocate(
    node: Node, lines: list[Allocation], *, actor: str, clock: Clock = SYSTEM_CLOCK
) -> list[str]:
    """Issue every line, all or nothing; return the new appropriation ids.

    Each line is recorded here and sent to its recipient as a signed change-set (one per
    recipient), in one transaction. A breakdown (``parent_id``) may take no more than
    is still available of the received appropriation; the refusal names the balance.
    """
    problems = [p for number, line in enumerate(lines, 1) for p in _check_line(number, line, node)]
    if problems:
        raise InputError(f"{len(problems)} problem(s), nothing issued: " + " | ".join(problems))
    me = node.spec.code
    now = clock.now()
    at = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    signer = load_signer(node.home.keys)
    with node.engine.begin() as conn:
        drawn: dict[str, int] = {}
        parents: dict[str, Any] = {}
        balance: dict[str, int] = {}
        for number, line in enumerate(lines, 1):
            if line.parent_id is None:
                continue
            if line.parent_id not in parents:
                parent = conn.execute(
                    sa.select(appropriation).where(appropriation.c.id == line.parent_id)
                ).one_or_none()
                if parent is None or parent.recipient != me:
                    raise InputError(
                        f"line {number}: {line.parent_id} is not an appropriation received here",
                        hint="list them with 'fiscalsync appropriations --received'",
                    )
                parents[line.parent_id] = parent
                balance[line.parent_id] = available(conn, line.parent_id)
            drawn[line.parent_id] = drawn.get(line.parent_id, 0) + line.amount_fen
            if drawn[line.parent_id] > balance[line.parent_id]:
                raise InputError(
                    f"line {number}: breaking down {format_yuan(drawn[line.parent_id])} 元 from "
                    f"{line.parent_id} exceeds its available balance of "
                    f"{format_yuan(balance[line.parent_id])} 元",
                    hint="指标控制: a breakdown may not exceed what is still available",
                )
        ids = _next_ids(conn, me, [line.year for line in lines])
        by_recipient: dict[str, list[dict[str, Any]]] = {}
        for ident, line in zip(ids, lines, strict=True):
            parent = parents.get(line.parent_id) if line.parent_id else None
            upper_doc = parent.doc_no if parent is not None else None
            conn.execute(
                appropriation.insert().values(
                    id=ident,
                    year=line.year,
                    issuer=me,
                    recipient=line.recipient,
                    doc_no=line.doc,
                    title=line.title,
                    upper_doc_no=upper_doc,
                    parent_id=line.parent_id,
                    func_code=line.func,
                    econ_code=line.econ,
                    fund_code=line.fund,
                    transfer_type=line.transfer_type,
                    project_code=line.project,
                    created_at=now,
                    created_by=actor,
                )
            )
            conn.execute(
                appropriation_event.insert().values(
                    appropriation_id=ident,
                    seq=1,
                    kind="issue",
                    amount_fen=line.amount_fen,
                    doc_no=line.doc,
                    actor=actor,
                    at=now,
                )
            )
            by_recipient.setdefault(line.recipient, []).append(
                {
                    "op": "issue",
                    "id": ident,
                    "year": line.year,
                    "doc": line.doc,
                    "title": line.title,
                    "upper_doc": upper_doc,
                    "parent_id": None,
                    "func": line.func,
                    "econ": line.econ,
                    "fund": line.fund,
                    "type": line.transfer_type,
                    "project": line.project,
                    "amount": line.amount_fen,
                    "actor": actor,
                    "at": at,
                }
            )
        for recipient, operations in by_recipient.items():
            enqueue(conn, node.spool, signer, recipient, "appropriation", operations, clock)
    return ids


def _next_ids(conn: Connection, issuer: str, years: list[int]) -> list[str]:
    """Issuer-assigned ids, globally unique: ``<issuer>-<year>-<number>``."""
    counters: dict[int, int] = {}
    ids = []
    for year in years:
        if year not in counters:
            prefix = f"{issuer}-{year}-"
            last = conn.execute(
                sa.select(sa.func.max(appropriation.c.id)).where(
                    appropriation.c.id.like(prefix + "%")
                )
            ).scalar_one()
            counters[year] = int(last.rsplit("-", 1)[1]) if last else 0
        counters[year] += 1
        ids.append(f"{issuer}-{year}-{counters[year]:06d}")
    return ids


def holdings(node: Node, *, issued: bool, year: int | None = None) -> list[Holding]:
    """Appropriations issued by this node (``issued``) or received by it, with amounts."""
    me = node.spec.code
    amount = sa.func.coalesce(sa.func.sum(appropriation_event.c.amount_fen), 0)
    mine = (appropriation.c.issuer if issued else appropriation.c.recipient) == me
    if year is not None:
        mine = mine & (appropriation.c.year == year)
    query = (
        sa.select(appropriation, amount.label("amount"))
        .select_from(appropriation.outerjoin(appropriation_event))
        .where(mine)
        .group_by(*appropriation.c)
        .order_by(appropriation.c.id)
    )
    with node.engine.connect() as conn:
        rows = conn.execute(query).all()
        left = {} if issued else balances(conn, sa.select(appropriation.c.id).where(mine))
    return [
        Holding(
            id=r.id,
            year=r.year,
            issuer=r.issuer,
            recipient=r.recipient,
            doc_no=r.doc_no,
            title=r.title,
            func_code=r.func_code,
            econ_code=r.econ_code,
            fund_code=r.fund_code,
            transfer_type=r.transfer_type,
            parent_id=r.parent_id,
            amount_fen=int(r.amount),
            available_fen=int(r.amount) if issued else left.get(r.id, 0),
        )
        for r in rows
    ]
